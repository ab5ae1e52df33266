"""Errors raised by the backtest domain code.

The shared HTTP-like errors are re-exported so callers can import everything from one place.
"""
from shared.errors import BadRequest, HbError, Invalid, NotFound

__all__ = ["BadRequest", "Cancelled", "HbError", "Invalid", "NotFound"]


class Cancelled(HbError):
    """The caller's cancel() callback asked the running backtest to stop."""

    status = 409

    def __init__(self, msg: str = "backtest cancelled"):
        super().__init__(msg)
