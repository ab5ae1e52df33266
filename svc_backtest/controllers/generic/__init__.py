"""Generic controllers (user controllers saved through svc_fleet land here too)."""
