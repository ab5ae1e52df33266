"""Directional controllers (open positions on an indicator signal)."""
