"""hbmesh gateway: REST and WebSocket in front of the topic API (no domain logic)."""
