"""Structured JSON logs; service/instance/command/request_id come from context variables."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

_fields: contextvars.ContextVar[dict] = contextvars.ContextVar("hbmesh_log_fields", default={})
_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def bind(**fields) -> None:
    """Attach fields to every log line of the current task (and tasks it starts)."""
    _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})


def current(name: str):
    return _fields.get().get(name)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
               "msg": record.getMessage(), **_fields.get()}
        out.update({k: v for k, v in vars(record).items() if k not in _STD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.gmtime
