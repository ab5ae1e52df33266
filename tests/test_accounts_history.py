"""Balance snapshot history: keyset paging, start/end, interval buckets, filters, on SQLite and Postgres."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import BadRequest
from svc_accounts.history import ConnectorState, Snapshot, SnapshotStore

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms
MIN = 60_000


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3) as c:
            c.execute("select 1")
        return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL on 127.0.0.1:5432 does not answer: {exc}"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}_"  # a table set per test run: reruns never collide
    if request.param == "postgres":
        reason = _pg_available()
        if reason:
            pytest.skip(reason)
        s = SnapshotStore(PG_URL, prefix)
    else:
        s = SnapshotStore(f"sqlite:///{tmp_path / 'accounts.sqlite'}", prefix)
    yield s
    s.drop()
    s.close()


def snap(ts_ms: int, value: float, stale_perp: bool = False) -> Snapshot:
    ok = [{"token": "BTC", "units": 1.0, "price": value, "value": value, "available_units": 0.5},
          {"token": "USDT", "units": 10.0, "price": 1.0, "value": 10.0, "available_units": 10.0}]
    return Snapshot(ts_ms, "USDT", [
        ConnectorState("alice", "binance", ok, False, None, ts_ms),
        ConnectorState("alice", "binance_perpetual", [], stale_perp, "HTTP 404" if stale_perp else None, None),
        ConnectorState("bob", "binance", ok[1:], False, None, ts_ms)])


def fill(store: SnapshotStore, n: int, step_ms: int = MIN) -> list[int]:
    times = [T0 + i * step_ms for i in range(n)]
    for i, ts in enumerate(times):
        store.write(snap(ts, 100.0 + i, stale_perp=i % 2 == 1))
    return times


def walk(store: SnapshotStore, **kw) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = store.page(cursor=cursor, **kw)
        pages.append([item["timestamp"] for item in page["data"]])
        cursor = page["pagination"]["next_cursor"]
        assert page["pagination"]["has_more"] is (cursor is not None)
        if cursor is None:
            return pages


def test_pages_cover_everything_once_newest_first(store):
    fill(store, 25)
    pages = walk(store, limit=10)
    assert [len(p) for p in pages] == [10, 10, 5]
    flat = [t for p in pages for t in p]
    assert len(set(flat)) == 25 and flat == sorted(flat, reverse=True)
    first = store.page(limit=1)["data"][0]
    assert first["timestamp"] == "2026-01-01T00:24:00+00:00"
    assert first["state"]["alice"]["binance"][0] == {"token": "BTC", "units": 1.0, "price": 124.0, "value": 124.0,
                                                     "available_units": 0.5}
    assert first["state"]["bob"]["binance"] == [{"token": "USDT", "units": 10.0, "price": 1.0, "value": 10.0,
                                                 "available_units": 10.0}]
    assert "stale" not in first  # i=24 is even: the perpetual was fresh
    second = store.page(limit=2)["data"][1]
    assert second["stale"] == {"alice": ["binance_perpetual"]}


def test_same_timestamp_snapshots_are_not_lost_between_pages(store):
    for i in range(5):
        store.write(snap(T0, float(i)))  # several instances writing in the same millisecond
    pages = walk(store, limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    values = []
    cursor = None
    while True:
        page = store.page(limit=2, cursor=cursor)
        values += [item["state"]["alice"]["binance"][0]["value"] for item in page["data"]]
        if not (cursor := page["pagination"]["next_cursor"]):
            break
    assert values == [4.0, 3.0, 2.0, 1.0, 0.0]


def test_start_end_in_seconds_or_ms_and_filters(store):
    times = fill(store, 30)
    in_seconds = store.page(limit=100, start_time=(T0 + 10 * MIN) / 1000, end_time=(T0 + 19 * MIN) / 1000)
    in_ms = store.page(limit=100, start_time=T0 + 10 * MIN, end_time=T0 + 19 * MIN)
    assert len(in_seconds["data"]) == 10 and in_seconds["data"] == in_ms["data"]
    assert in_seconds["pagination"]["filters"]["start_time"] == (T0 + 10 * MIN) / 1000
    only_bob = store.page(limit=3, account_names=["bob"])
    assert [list(item["state"]) for item in only_bob["data"]] == [["bob"]] * 3
    perp = store.page(limit=100, connector_names=["binance_perpetual"])
    assert len(perp["data"]) == len(times)
    assert all(list(item["state"]["alice"]) == ["binance_perpetual"] for item in perp["data"])
    assert store.page(limit=5, account_names=["carol"])["data"] == []
    # hummingbot-api's cursor (an ISO timestamp) is understood too
    iso = store.page(limit=5, cursor="2026-01-01T00:05:00+00:00")
    assert [i["timestamp"][11:16] for i in iso["data"]] == ["00:04", "00:03", "00:02", "00:01", "00:00"]


def test_interval_buckets_take_the_newest_snapshot_of_each(store):
    fill(store, 130)  # 00:00 .. 02:09, one a minute
    hourly = walk(store, limit=2, interval="1h")
    assert hourly == [["2026-01-01T02:09:00+00:00", "2026-01-01T01:59:00+00:00"], ["2026-01-01T00:59:00+00:00"]]
    quarter = store.page(limit=3, interval="15m")
    assert [i["timestamp"][11:16] for i in quarter["data"]] == ["02:09", "01:59", "01:44"]
    nxt = store.page(limit=3, interval="15m", cursor=quarter["pagination"]["next_cursor"])
    assert [i["timestamp"][11:16] for i in nxt["data"]] == ["01:29", "01:14", "00:59"]
    ranged = store.page(limit=10, interval="30m", start_time=T0 + 20 * MIN, end_time=T0 + 70 * MIN)
    assert [i["timestamp"][11:16] for i in ranged["data"]] == ["01:10", "00:59", "00:29"]
    assert store.page(limit=10, interval="1d")["data"][0]["state"]["alice"]["binance"][0]["value"] == 229.0


def test_latest_and_bad_requests(store):
    assert store.latest() is None
    fill(store, 3)
    latest = store.latest()
    assert latest.ts_ms == T0 + 2 * MIN and len(latest.states) == 3
    assert latest.as_state()["alice"]["binance"][0]["value"] == 102.0
    for kw in ({"interval": "7m"}, {"cursor": "not-a-cursor"}, {"start_time": T0 + MIN, "end_time": T0},
               {"limit": 0}):
        with pytest.raises(BadRequest):
            store.page(**{"limit": 10, **kw})
