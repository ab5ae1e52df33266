"""Market making controllers (quote both sides around a reference price)."""
