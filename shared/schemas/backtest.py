"""svc_backtest messages. Field names follow hummingbot-api's BacktestingConfig."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .common import Limit, Offset, TaskId

Resolution = Annotated[str, msgspec.Meta(pattern=r"^\d+[smhdwM]$")]
Epoch = Annotated[int, msgspec.Meta(ge=0, le=4_102_444_800)]


class BacktestRequest(msgspec.Struct):
    """A backtest: a controller config (dict, or the name of a stored config) over [start_time, end_time]."""

    config: dict[str, Any] | str
    start_time: Epoch = 1735689600
    end_time: Epoch = 1738368000
    backtesting_resolution: Resolution = "1m"
    trade_cost: Annotated[float, msgspec.Meta(ge=0, le=0.1)] = 0.0006
    include_executors: bool = True
    include_processed_data: bool = True


class BacktestResult(msgspec.Struct):
    """The summary always; executors/processed data only within the reply size limit (`truncated` says so).
    Non-finite numbers are null."""

    results: dict[str, Any]
    executors: list[dict] = []
    processed_data: dict[str, Any] = {}
    position_holds: list[dict] = []
    pnl_timeseries: list[dict] = []
    truncated: bool = False
    task_id: str | None = None


class TaskRef(msgspec.Struct):
    task_id: str
    status: str


class TaskInfo(msgspec.Struct):
    task_id: str
    status: str
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    progress: float = 0.0
    error: str | None = None
    sweep_id: str | None = None
    attempts: int = 0
    result: BacktestResult | None = None


class TaskQuery(msgspec.Struct):
    status: str | None = None
    sweep_id: str | None = None
    limit: Limit = 100


class TaskPageRequest(TaskId):
    offset: Offset = 0
    limit: Limit = 500


class PerformanceRequest(msgspec.Struct):
    """The legacy /get-performance-results body: any list of executors (close_type may be null)."""

    executors: list[dict[str, Any]]
    total_amount_quote: Annotated[float, msgspec.Meta(gt=0)] = 1000.0


class PerformanceResult(msgspec.Struct):
    results: dict[str, Any]
    executors: list[dict] = []


class SweepRequest(msgspec.Struct):
    """A base backtest plus a grid: one task per combination of the listed config values."""

    base: BacktestRequest
    grid: dict[str, Annotated[list[Any], msgspec.Meta(min_length=1)]]
    metric: str = "net_pnl_quote"
    descending: bool = True


class SweepRef(msgspec.Struct):
    sweep_id: str
    task_ids: list[str]


class SweepId(msgspec.Struct):
    sweep_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class SweepRow(msgspec.Struct):
    task_id: str
    status: str
    params: dict[str, Any]
    metric: float | None = None


class SweepResult(msgspec.Struct):
    sweep_id: str
    metric: str
    done: int
    total: int
    ranking: list[SweepRow]


class ControllerRef(msgspec.Struct):
    controller_type: Annotated[str, msgspec.Meta(pattern=r"^[a-z_]+$")]
    controller_name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_]+$")]
