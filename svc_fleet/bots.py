"""What the fleet knows about each bot, from what bots publish (and from Docker): last seen, status,
per-controller performance, recent logs and error logs, market events.

Status rules (hummingbot-api's, made explicit):
- `stopping`  while stop-and-archive runs for the bot;
- `stopped`   not heard from for `stale_after_s`, or its last status_update said "offline";
- `running`   heard from recently and a controller reported performance recently (a strategy runs);
- `idle`      heard from recently, no recent performance report (bridge up, no strategy running).

Pure domain: the service feeds messages in (`observe`) and reads snapshots and status changes out.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Any

from . import bot_protocol as bp

LOG_KEEP = 100
EVENTS_KEEP = 100
DEDUP_TTL_S = 300.0
NUMERIC_SKIP = ("positions_summary", "close_type_counts")


@dataclass
class BotState:
    name: str
    topic_id: str
    sources: set[str] = field(default_factory=set)
    first_seen: float = 0.0
    last_seen: float = 0.0
    last_heartbeat_ts: int | None = None  # the bot's own ts (µs, +0.5 s)
    last_performance_at: float = 0.0
    availability: str | None = None  # online | offline, from status_updates
    availability_at: float = 0.0
    performance: dict[str, dict] = field(default_factory=dict)
    general_logs: collections.deque = field(default_factory=lambda: collections.deque(maxlen=LOG_KEEP))
    error_logs: collections.deque = field(default_factory=lambda: collections.deque(maxlen=LOG_KEEP))
    events: collections.deque = field(default_factory=lambda: collections.deque(maxlen=EVENTS_KEEP))
    container: dict | None = None
    stopping: bool = False
    status: str = "stopped"


def controller_performance(report: Any) -> dict:
    """hummingbot-api's determine_controller_performance: a controller whose metrics are not numeric is an error."""
    out: dict[str, dict] = {}
    if not isinstance(report, dict):
        return out
    for controller_id, body in report.items():
        if not isinstance(body, dict) or not body:
            out[str(controller_id)] = {"status": "stopped", "performance": {}, "custom_info": {}}
            continue
        perf = body.get("performance") if isinstance(body.get("performance"), dict) else {}
        bad = [k for k, v in perf.items() if k not in NUMERIC_SKIP and bp.as_number(v) is None]
        entry = {"status": "error" if bad or not perf else "running", "performance": bp.clean(perf),
                 "custom_info": bp.clean(body.get("custom_info") or {})}
        if bad:
            entry["error"] = f"non-numeric metrics: {', '.join(sorted(bad))}"
        out[str(controller_id)] = entry
    return out


class Registry:
    def __init__(self, stale_after_s: float = 30.0, clock=time.time):
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.bots: dict[str, BotState] = {}
        self._seen_logs: dict[str, float] = {}
        self.messages = 0

    # ------------------------------------------------------------ input
    def bot(self, name: str, topic_id: str | None = None, source: str = "mqtt") -> BotState:
        st = self.bots.get(name)
        if st is None:
            st = self.bots[name] = BotState(name, topic_id or name.replace(".", "/"), first_seen=self.clock())
        if topic_id:
            st.topic_id = topic_id
        st.sources.add(source)
        return st

    def observe(self, namespace: str, topic: str, payload: bytes) -> tuple[str, str, str] | None:
        """Take one bot message. Returns (bot, old_status, new_status) when the status changed."""
        parsed = bp.parse_topic(namespace, topic)
        if parsed is None:
            return None
        name, stream, topic_id = parsed
        if stream == "external":
            return None  # inbound to the bot (external events), not a sign of life
        try:
            body = bp.loads(payload)
        except ValueError:
            body = None
        now = self.clock()
        self.messages += 1
        st = self.bot(name, topic_id)
        st.last_seen = now
        if stream == "hb" and isinstance(body, dict):
            ts = bp.as_number(body.get("ts"))
            st.last_heartbeat_ts = int(ts) if ts is not None else None
        elif stream == "status_updates" and isinstance(body, dict):
            if body.get("type", "availability") == "availability" and body.get("msg") in ("online", "offline"):
                st.availability, st.availability_at = body["msg"], now
                if body["msg"] == "offline":
                    st.performance.clear()
        elif stream == "performance":
            perf = controller_performance(body)
            st.performance.update(perf)
            if any(v["status"] != "stopped" for v in perf.values()):
                st.last_performance_at = now
        elif stream == "log" and isinstance(body, dict):
            self._log(st, body, now)
        elif stream == "events" and isinstance(body, dict):
            st.events.append(bp.clean({"timestamp": bp.as_number(body.get("timestamp")), "type": body.get("type"),
                                       "data": body.get("data") or {}}))
        if st.availability == "offline" and stream in ("hb", "performance"):
            st.availability = "online"  # alive again: the offline note is best-effort, heartbeats are not
        return self._update(st, now)

    def _log(self, st: BotState, body: dict, now: float) -> None:
        ts = bp.as_number(body.get("timestamp")) or now
        msg = str(body.get("msg", ""))
        key = f"{st.name}:{msg}:{int(ts)}"
        if key in self._seen_logs:
            return
        self._seen_logs[key] = now
        if len(self._seen_logs) > 50_000:
            cutoff = now - DEDUP_TTL_S
            self._seen_logs = {k: v for k, v in self._seen_logs.items() if v >= cutoff}
        level = bp.as_number(body.get("level_no"))
        entry = {"timestamp": ts, "msg": msg, "level_no": int(level) if level is not None else 20,
                 "level_name": str(body.get("level_name", "INFO")), "logger_name": str(body.get("logger_name", ""))}
        (st.error_logs if entry["level_no"] >= 40 or entry["level_name"] == "ERROR" else st.general_logs).append(entry)

    def set_container(self, name: str, info: dict | None) -> tuple[str, str, str] | None:
        """Docker's view: a running container named like a bot makes it known (source 'docker')."""
        st = self.bots.get(name)
        if info is None:
            if st is None:
                return None
            st.container = None
            st.sources.discard("docker")
        else:
            st = self.bot(name, source="docker")
            st.container = info
        return self._update(st, self.clock())

    def set_stopping(self, name: str, stopping: bool) -> tuple[str, str, str] | None:
        st = self.bot(name, source=next(iter(self.bots[name].sources)) if name in self.bots else "docker")
        st.stopping = stopping
        return self._update(st, self.clock())

    def forget(self, name: str) -> None:
        self.bots.pop(name, None)

    # ------------------------------------------------------------ status
    def status_of(self, st: BotState, now: float) -> str:
        if st.stopping:
            return "stopping"
        recent = st.last_seen and now - st.last_seen <= self.stale_after_s
        if not recent or st.availability == "offline":
            return "stopped"
        if st.last_performance_at and now - st.last_performance_at <= self.stale_after_s and any(
                v["status"] != "stopped" for v in st.performance.values()):
            return "running"
        return "idle"

    def _update(self, st: BotState, now: float) -> tuple[str, str, str] | None:
        new = self.status_of(st, now)
        if new != st.status:
            old, st.status = st.status, new
            return st.name, old, new
        return None

    def sweep(self) -> list[tuple[str, str, str]]:
        """Re-evaluate every bot against the clock (bots that went silent become stopped)."""
        now = self.clock()
        changes = []
        for st in list(self.bots.values()):
            if (change := self._update(st, now)) is not None:
                changes.append(change)
        return changes

    # ------------------------------------------------------------ output (hummingbot-api shapes)
    def view(self, name: str) -> dict | None:
        st = self.bots.get(name)
        if st is None:
            return None
        now = self.clock()
        return {
            "bot_name": st.name,
            "status": st.status,
            "performance": {k: dict(v) for k, v in st.performance.items()},
            "error_logs": list(st.error_logs),
            "general_logs": list(st.general_logs),
            "recently_active": bool(st.last_seen and now - st.last_seen <= self.stale_after_s),
            "source": "+".join(sorted(st.sources)) or "mqtt",
            "last_seen": st.last_seen or None,
            "seconds_since_seen": round(now - st.last_seen, 3) if st.last_seen else None,
            "availability": st.availability,
            "market_events": list(st.events),
            "container": st.container,
        }

    def snapshot(self, include_stopped: bool = True) -> dict[str, dict]:
        return {n: self.view(n) for n in sorted(self.bots) if include_stopped or self.bots[n].status != "stopped"}

    def discovered(self) -> list[str]:
        now = self.clock()
        return sorted(n for n, st in self.bots.items() if st.last_seen and now - st.last_seen <= self.stale_after_s)

    def performance_rows(self) -> list[tuple[str, str, dict]]:
        """(bot, controller_id, entry) for every controller with numeric metrics, for snapshots."""
        out = []
        for st in self.bots.values():
            if st.status != "running":
                continue
            for cid, entry in st.performance.items():
                if entry.get("status") == "running":
                    out.append((st.name, cid, entry))
        return out


def finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
