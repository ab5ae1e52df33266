"""svc_archive messages: bot archives (local folder or S3), bot databases, checkpoints.

Replies of the database commands have hummingbot-api's `/archived-bots/*` shapes (field names included),
so the gateway can return them unchanged to `hummingbot-api-client`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .common import Name, Offset

DbPath = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Bucket = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
TaskRef = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PageLimit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
PageOffset = Offset
Location = Literal["local", "s3"]


# -- archives ---------------------------------------------------------------------------------

class ArchiveRequest(msgspec.Struct, kw_only=True):
    """Archive bots/instances/<bot_name>: tar.gz + sha256 manifest, kept locally or uploaded to S3.

    local: the archive goes to bots/archived/ and the folder is moved to bots/archived/<bot_name> (readable
    through /archived-bots) unless keep_browsable is false. s3: the folder is deleted only after the
    uploaded object's checksum is verified. Progress on events/tasks/<task_id> when task_id is given."""

    bot_name: Name
    destination: Location = "local"
    bucket: Bucket | None = None  # s3: default HBMESH_S3_BUCKET
    keep_browsable: bool = True
    task_id: TaskRef | None = None


class FleetArchive(msgspec.Struct, kw_only=True):
    """svc_fleet's stop-and-archive request (hummingbot-api's archive_locally / s3_bucket options)."""

    instance_name: Name
    path: str | None = None  # the folder svc_fleet means; must be svc_archive's bots/instances/<instance_name>
    archive_locally: bool = True
    s3_bucket: Bucket | None = None


class FileEntry(msgspec.Struct):
    path: str
    size: int
    sha256: str


class Manifest(msgspec.Struct, kw_only=True):
    """Written next to every archive as <archive_id>.manifest.json."""

    format: str = "hbmesh-archive/1"
    archive_id: str
    bot_name: str
    created_at: float
    archive_file: str
    size: int
    sha256: str
    files: list[FileEntry] = []
    skipped: list[str] = []  # symlinks and special files, not archived


class ArchiveInfo(msgspec.Struct, kw_only=True):
    archive_id: str
    bot_name: str
    location: Location
    size: int
    sha256: str
    created_at: float
    bucket: str | None = None
    key: str | None = None
    files: int = 0


class ArchiveResult(msgspec.Struct, kw_only=True):
    archive: ArchiveInfo
    verified: bool
    folder_removed: bool
    browsable_path: str | None = None  # bots/archived/<name> when kept browsable
    reused_parts: int = 0  # multipart parts already on S3 from an interrupted attempt
    already_uploaded: bool = False


class ArchiveRef(msgspec.Struct, kw_only=True):
    archive_id: Name
    location: Location = "local"
    bucket: Bucket | None = None


class ArchiveList(msgspec.Struct, kw_only=True):
    location: Location = "local"
    bucket: Bucket | None = None


class RestoreOptions(msgspec.Struct, kw_only=True):
    """Verify an archive and unpack it into bots/archived/<bot_name> (readable through /archived-bots) or
    back into bots/instances/<bot_name>."""

    location: Location = "local"
    bucket: Bucket | None = None
    target: Literal["archived", "instances"] = "archived"
    task_id: TaskRef | None = None


class RestoreRequest(RestoreOptions, kw_only=True):
    archive_id: Name


class RestoreResult(msgspec.Struct, kw_only=True):
    archive_id: str
    path: str
    files: int
    verified: bool


class Deleted(msgspec.Struct, kw_only=True):
    message: str
    deleted: list[str] = []


# -- bot databases (hummingbot-api /archived-bots/*) ------------------------------------------

class DbList(msgspec.Struct, kw_only=True):
    scope: Literal["all", "archived", "instances"] = "all"


class DbRef(msgspec.Struct, kw_only=True):
    db_path: DbPath


class DbPage(DbRef, kw_only=True):
    limit: PageLimit = 100
    offset: PageOffset = 0


class DbOrders(DbPage, kw_only=True):
    status: str | None = None


class DbAll(DbRef, kw_only=True):
    """Executors and controllers: hummingbot-api returns all of them; paging is optional here."""

    limit: PageLimit = 10_000
    offset: PageOffset = 0


class Pagination(msgspec.Struct):
    total: int
    limit: int
    offset: int
    has_more: bool


class DbStatus(msgspec.Struct):
    db_path: str
    status: dict
    healthy: bool


class DbSummary(msgspec.Struct):
    db_path: str
    total_orders: int
    total_trades: int
    total_executors: int
    total_positions: int
    total_controllers: int
    trading_pairs: list[str]
    exchanges: list[str]


class PerformanceSummary(msgspec.Struct):
    total_trades: int
    final_net_pnl_quote: float
    final_realized_pnl_quote: float
    final_unrealized_pnl_quote: float
    total_fees_quote: float
    total_volume_quote: float
    final_net_position: float
    trading_pairs: list[str]
    connector_names: list[str]


class DbPerformance(msgspec.Struct, omit_defaults=True):
    db_path: str
    performance_data: list[dict]
    summary: PerformanceSummary | None = None
    error: str | None = None


class DbTrades(msgspec.Struct):
    db_path: str
    trades: list[dict]
    pagination: Pagination


class DbOrdersPage(msgspec.Struct):
    db_path: str
    orders: list[dict]
    pagination: Pagination


class DbPositions(msgspec.Struct):
    db_path: str
    positions: list[dict]
    pagination: Pagination


class DbExecutors(msgspec.Struct):
    db_path: str
    executors: list[dict]
    total: int
    pagination: Pagination


class DbControllers(msgspec.Struct):
    db_path: str
    controllers: list[dict]
    total: int
    pagination: Pagination


# -- checkpoints ------------------------------------------------------------------------------

class CheckpointCreate(msgspec.Struct, kw_only=True):
    """Merge bot databases (default: every archived one) into bots/data/checkpoint_<name>.sqlite."""

    name: Name
    db_paths: list[DbPath] = []
    overwrite: bool = False


class SourceReport(msgspec.Struct, omit_defaults=True):
    db_path: str
    merged: bool
    rows: dict[str, int] = {}
    reason: str | None = None


class CheckpointInfo(msgspec.Struct, kw_only=True):
    name: str
    db_path: str  # usable with every database command
    size: int
    created_at: float
    sources: list[SourceReport] = []
    tables: dict[str, int] = {}


class CheckpointRef(msgspec.Struct, kw_only=True):
    name: Name
    limit: PageLimit = 1000


class CheckpointData(msgspec.Struct, kw_only=True):
    """A checkpoint's contents, table by table (the old backend-api's load-checkpoint)."""

    name: str
    db_path: str
    sources: list[SourceReport]
    tables: dict[str, int]
    orders: list[dict]
    trade_fill: list[dict]
    order_status: list[dict]
    executors: list[dict]
    positions: list[dict]
    controllers: list[dict]
