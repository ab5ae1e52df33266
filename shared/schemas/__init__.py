"""msgspec message schemas of every service's topic API (shared by services, gateway and clients)."""
