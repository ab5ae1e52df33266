"""hummingbot-api /archived-bots/* (bot databases; `{db_path}` is a path such as
bots/archived/<bot>/data/<file>.sqlite) plus hbmesh's archive routes (archives local or on S3, restore,
databases of live and archived bots, checkpoints)."""

from fastapi import APIRouter

from shared.schemas.archive import ArchiveRequest, CheckpointCreate, RestoreOptions

from ..relay import relay

router = APIRouter(tags=["archived-bots"])
A = "archive"
PAGE = {"limit": (int, 100), "offset": (int, 0)}


def _archived_only(data: dict) -> dict:
    return {**data, "scope": "archived"}


# hummingbot-api (hummingbot-api-client's archived_bots router)
for path in ("/archived-bots/", "/archived-bots"):
    relay(router, "GET", path, A, "databases/list", shape=_archived_only,
          summary="Archived bot databases (bots/archived/<bot>/data/*.sqlite)")
relay(router, "GET", "/archived-bots/{db_path:path}/status", A, "databases/status")
relay(router, "GET", "/archived-bots/{db_path:path}/summary", A, "databases/summary")
relay(router, "GET", "/archived-bots/{db_path:path}/performance", A, "databases/performance", timeout=120)
relay(router, "GET", "/archived-bots/{db_path:path}/trades", A, "databases/trades", params=PAGE)
relay(router, "GET", "/archived-bots/{db_path:path}/orders", A, "databases/orders",
      params={**PAGE, "status": (str | None, None)})
relay(router, "GET", "/archived-bots/{db_path:path}/executors", A, "databases/executors",
      params={"limit": (int, 10_000), "offset": (int, 0)})
relay(router, "GET", "/archived-bots/{db_path:path}/positions", A, "databases/positions", params=PAGE)
relay(router, "GET", "/archived-bots/{db_path:path}/controllers", A, "databases/controllers",
      params={"limit": (int, 10_000), "offset": (int, 0)})
relay(router, "DELETE", "/archived-bots/{db_path:path}", A, "databases/delete")

# hbmesh
relay(router, "GET", "/archive/databases", A, "databases/list", params={"scope": (str, "all")},
      summary="Bot databases of live instances and archived bots")
relay(router, "POST", "/archive/archives", A, "archive", body=ArchiveRequest, timeout=6 * 3600,
      summary="Archive a bot folder (tar.gz + sha256 manifest) locally or to S3")
relay(router, "GET", "/archive/archives", A, "archives/list", timeout=120,
      params={"location": (str, "local"), "bucket": (str | None, None)})
relay(router, "POST", "/archive/archives/{archive_id}/restore", A, "archives/restore", body=RestoreOptions,
      timeout=6 * 3600)
relay(router, "POST", "/archive/archives/{archive_id}/download", A, "archives/download", timeout=6 * 3600,
      params={"bucket": (str | None, None)}, summary="Copy an S3 archive into bots/archived/")
relay(router, "DELETE", "/archive/archives/{archive_id}", A, "archives/delete", timeout=120,
      params={"location": (str, "local"), "bucket": (str | None, None)})
relay(router, "POST", "/archive/checkpoints", A, "checkpoints/create", body=CheckpointCreate, timeout=1800)
relay(router, "GET", "/archive/checkpoints", A, "checkpoints/list")
relay(router, "GET", "/archive/checkpoints/{name}", A, "checkpoints/load", params={"limit": (int, 1000)},
      timeout=120)
