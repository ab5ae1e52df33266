"""svc_marketdata's entrypoints: commands on hbmesh/v1/marketdata/... mapped onto the store and fetchers."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from shared.schemas.common import TaskId, TaskProgress
from shared.schemas.marketdata import (CandleEvent, CandleKeyReq, CandleRange, CandlesGet, CandlesImport,
                                       LiveCandles, LiveSubscribe, StoreStatus, TradingRulesReq)
from shared.service import Runtime, Service
from shared.errors import HbError, Invalid, NotFound

log = logging.getLogger("hbmesh.marketdata")
POLL_S = float(os.environ.get("HBMESH_MARKETDATA_POLL_S", "5"))  # live feeds poll at most this often
RULES_RETRY_AFTER_S = 60.0  # an unreachable exchange is asked again after this, not on every backtest

service = Service("marketdata", "Candle downloads, a gap-aware Parquet candle store, trading rules")
service.event("tasks/{task_id}", TaskProgress, "Download progress and completion")
service.event("candles/{connector}/{pair}/{interval}", CandleEvent, "Live candle updates")
service.event("candles/{connector}/{pair}/{interval}/stopped", dict, "A live feed stopped (idle)")


class Feed:
    """A live candle feed: polls the exchange and publishes changed candles until nobody renews it."""

    def __init__(self, key, idle_timeout_s: float):
        self.key = key
        self.idle_timeout_s = idle_timeout_s
        self.touched = time.monotonic()
        self.task: asyncio.Task | None = None
        self.published = 0

    def touch(self, idle_timeout_s: float) -> None:
        self.touched = time.monotonic()
        self.idle_timeout_s = idle_timeout_s

    @property
    def idle(self) -> bool:
        return time.monotonic() - self.touched > self.idle_timeout_s

    def view(self) -> dict:
        return {**self.key.as_dict(), "idle_timeout_s": self.idle_timeout_s, "published": self.published,
                "idle_for_s": round(time.monotonic() - self.touched, 3)}


class State:
    def __init__(self, rt: Runtime):
        from .store import CandleStore, CandleKey

        self.store = CandleStore(rt.settings.candle_store_root)  # a folder or an S3 URI
        self.Key = CandleKey
        self.downloads: dict[str, dict] = {}  # task_id -> state; concurrent downloads of a key share one
        self.by_key: dict[str, asyncio.Task] = {}
        self.rules: dict[str, dict[str, dict]] = {}
        self.rules_failed: dict[str, tuple[float, HbError]] = {}  # connector -> (when, error): no retry storm
        self.rules_lock = asyncio.Lock()
        self.feeds: dict[str, Feed] = {}


@service.lifespan
async def lifespan(rt: Runtime):
    from . import fetch

    fetch.exchange_url_overrides()  # applies HBMESH_EXCHANGE_URLS once, at start
    state = State(rt)
    try:
        yield state
    finally:
        for feed in list(state.feeds.values()):
            feed.task.cancel()


def _key(state: State, req: CandleKeyReq):
    return state.Key(req.connector_name, req.trading_pair, req.interval)


async def _sync(rt: Runtime, req: CandleRange, task_id: str | None) -> dict:
    """Download the missing parts of a range; one download per key at a time (others join it)."""
    from .fetch import sync_candles

    state: State = rt.state
    key = _key(state, req)

    async def progress(done: int, total: int) -> None:
        if task_id:
            pct = round(100.0 * done / max(total, 1), 2)
            state.downloads[task_id].update(progress=pct)
            await rt.emit(f"tasks/{task_id}", TaskProgress(task_id, "running", pct, {"done": done, "total": total}))

    while (running := state.by_key.get(str(key))) is not None:
        await asyncio.shield(running)  # merge with the download already running for this key
    task = asyncio.ensure_future(sync_candles(state.store, key, req.start_time, req.end_time, progress))
    state.by_key[str(key)] = task
    try:
        return await task
    finally:
        state.by_key.pop(str(key), None)


@service.command("candles/download", timeout=10)
async def download(req: CandleRange, rt: Runtime) -> dict:
    """Start a background download of the missing parts of a range; progress on events/tasks/<id>."""
    state: State = rt.state
    _key(state, req)  # validate before accepting
    task_id = f"md-{int(time.time() * 1000):x}-{len(state.downloads)}"
    state.downloads[task_id] = {"task_id": task_id, "status": "running", "progress": 0.0, "request": req}

    async def work() -> None:
        entry = state.downloads[task_id]
        try:
            entry["result"] = await _sync(rt, req, task_id)
            entry["status"] = "completed"
            entry["progress"] = 100.0
        except Exception as exc:  # noqa: BLE001 - reported as the task's failure
            entry.update(status="failed", error=str(getattr(exc, "msg", exc)))
        await rt.emit(f"tasks/{task_id}", TaskProgress(task_id, entry["status"], entry["progress"],
                                                       entry.get("result") or {}, entry.get("error")), qos=1)

    asyncio.create_task(work())
    return {"task_id": task_id, "status": "running"}


@service.command("candles/tasks/get")
async def download_status(req: TaskId, rt: Runtime) -> dict:
    entry = rt.state.downloads.get(req.task_id)
    if entry is None:
        raise NotFound(f"download task {req.task_id} not found")
    return {k: v for k, v in entry.items() if k != "request"}


@service.command("candles/ensure", timeout=3600)
async def ensure(req: CandleRange, rt: Runtime) -> dict:
    """Make sure a range is stored (downloading what is missing) and reply when it is."""
    return await _sync(rt, req, None)


@service.command("candles/status")
async def status(req: CandleRange, rt: Runtime) -> StoreStatus:
    """Stored ranges, gaps within [start_time, end_time] (when given), row counts."""
    state: State = rt.state
    key = _key(state, req)
    st = await asyncio.to_thread(state.store.status, key, req.start_time or None, req.end_time or None)
    return StoreStatus(req.connector_name, key.trading_pair, req.interval, st["rows"], st.get("first"),
                       st.get("last"), [tuple(r) for r in st["ranges"]], [tuple(g) for g in st.get("gaps", [])])


@service.command("candles/list")
async def list_keys(req: Any, rt: Runtime) -> list[dict]:
    """Every stored candle series."""
    return [k.as_dict() for k in await asyncio.to_thread(rt.state.store.keys)]


@service.command("candles/get")
async def get(req: CandlesGet, rt: Runtime) -> list[dict]:
    """Stored candles of a range (hummingbot's columns), optionally resampled."""
    from .store import resample

    state: State = rt.state
    df = await asyncio.to_thread(state.store.read, _key(state, req), req.start_time or None, req.end_time or None)
    if req.resample:
        df = resample(df, req.resample)
    return df.tail(req.limit).to_dict("records")


@service.command("historical", timeout=3600)
async def historical(req: CandleRange, rt: Runtime) -> list[dict]:
    """hummingbot-api's historical-candles: ensure the range is stored, then return it."""
    await _sync(rt, req, None)
    return await get(CandlesGet(req.connector_name, req.trading_pair, req.interval, req.start_time, req.end_time), rt)


@service.command("candles/live", timeout=120)
async def live(req: LiveCandles, rt: Runtime) -> list[dict]:
    """The latest max_records closed candles, fetched from the exchange through the store."""
    from .store import CandleKey

    key = CandleKey(req.connector_name, req.trading_pair, req.interval)
    end = int(time.time())
    start = end - key.seconds * (req.max_records + 1)
    return await historical(CandleRange(req.connector_name, req.trading_pair, req.interval, start, end), rt)


@service.command("candles/import", timeout=600)
async def import_file(req: CandlesImport, rt: Runtime) -> dict:
    """Load a CSV/Parquet file of candles into the store."""
    state: State = rt.state
    return await asyncio.to_thread(state.store.import_file, _key(state, req), req.path)


def _feed_topic(rt: Runtime, key) -> str:
    return rt.topics.event("marketdata", "candles", key.connector, key.trading_pair, key.interval)


async def _run_feed(rt: Runtime, feed: Feed) -> None:
    """Publish the newest candles (the open one changes until it closes) until the feed goes idle."""
    from .fetch import fetch_candles

    key, last = feed.key, None
    poll = min(float(key.seconds), POLL_S)
    try:
        while not feed.idle:
            now = time.time()
            try:
                df = await fetch_candles(key.connector, key.trading_pair, key.interval, now - 2 * key.seconds, now)
            except HbError as exc:
                log.warning("live candles fetch failed", extra={"feed": str(key), "error": exc.msg})
            else:
                for candle in df.to_dict("records"):
                    if last is None or candle["timestamp"] > last["timestamp"] or (
                            candle["timestamp"] == last["timestamp"] and candle != last):
                        await rt.emit(f"candles/{key.connector}/{key.trading_pair}/{key.interval}",
                                      CandleEvent(key.connector, key.trading_pair, key.interval, candle))
                        feed.published += 1
                        last = candle
            await asyncio.sleep(poll)  # the exchange's REST poll period
    finally:
        rt.state.feeds.pop(str(key), None)
        await rt.emit(f"candles/{key.connector}/{key.trading_pair}/{key.interval}/stopped", feed.view(), qos=1)


@service.command("candles/subscribe")
async def subscribe(req: LiveSubscribe, rt: Runtime) -> dict:
    """Start (or keep alive) a live feed publishing on events/candles/<connector>/<pair>/<interval>;
    it stops by itself when not renewed within idle_timeout_s."""
    from .fetch import candle_intervals

    state: State = rt.state
    key = _key(state, req)
    if key.interval not in candle_intervals(key.connector):
        raise Invalid(f"{key.connector} has no {key.interval} candles")
    feed = state.feeds.get(str(key))
    started = feed is None
    if feed is None:
        feed = state.feeds[str(key)] = Feed(key, req.idle_timeout_s)
        feed.task = asyncio.create_task(_run_feed(rt, feed))
    else:
        feed.touch(req.idle_timeout_s)
    return {"topic": _feed_topic(rt, key), "started": started, **feed.view()}


@service.command("candles/feeds")
async def feeds(req: Any, rt: Runtime) -> list[dict]:
    """Active live feeds (hummingbot-api's active-feeds)."""
    return [f.view() for f in rt.state.feeds.values()]


@service.command("connectors")
async def connectors(req: Any, rt: Runtime) -> list[str]:
    """Candle connectors hummingbot supports."""
    from .fetch import candle_connectors

    return candle_connectors()


@service.command("trading-rules", timeout=120)
async def trading_rules(req: TradingRulesReq, rt: Runtime) -> list[dict]:
    """Trading rules of a connector's pairs, fetched once per connector and cached."""
    from .fetch import fetch_trading_rules

    state: State = rt.state
    async with state.rules_lock:
        cached = state.rules.setdefault(req.connector_name, {})
        missing = [p for p in req.trading_pairs if p.upper() not in cached] or ([] if cached else None)
        if missing is None or missing:
            failed = state.rules_failed.get(req.connector_name)
            if failed and time.monotonic() - failed[0] < RULES_RETRY_AFTER_S:
                raise failed[1]
            try:
                fetched = await fetch_trading_rules(req.connector_name, missing or None)
            except HbError as exc:
                state.rules_failed[req.connector_name] = (time.monotonic(), exc)
                raise
            state.rules_failed.pop(req.connector_name, None)
            for rule in fetched:
                cached[rule["trading_pair"]] = rule
    pairs = [p.upper() for p in req.trading_pairs] or list(cached)
    unknown = [p for p in pairs if p not in cached]
    if unknown:
        raise NotFound(f"{req.connector_name} lists no trading rules for {', '.join(unknown)}")
    return [cached[p] for p in pairs]
