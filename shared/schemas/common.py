"""Schema pieces used by several services."""

from __future__ import annotations

from typing import Annotated

import msgspec

# A name that becomes a file or folder: no separators, no '..', nothing absolute.
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=128)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
# Bounded so a database never sees a number it cannot store (SQLite integers are 64-bit).
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
RowId = Annotated[int, msgspec.Meta(ge=1, le=2**53)]


class TaskId(msgspec.Struct):
    task_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Page(msgspec.Struct):
    """A page of rows; `next_offset` is null on the last page."""

    total: int
    offset: int
    items: list[dict]
    next_offset: int | None = None


class TaskProgress(msgspec.Struct):
    """Published on <prefix>/v1/<service>/events/tasks/<task_id> while a task runs and when it ends."""

    task_id: str
    status: str  # pending | running | completed | failed | cancelled
    progress: float = 0.0  # 0..100
    detail: dict = {}
    error: str | None = None
