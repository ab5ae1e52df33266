"""Topic names. Commands: <prefix>/v1/<service>/<command>; events: <prefix>/v1/<service>/events/...;
presence: <prefix>/v1/<service>/presence/<instance_id> (retained). Bot topics keep their own namespace."""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVICES = ("backtest", "marketdata", "fleet", "accounts", "archive")
API_VERSION = "v1"
_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")


def valid_segment(value: str) -> bool:
    """True when value is safe as one topic level (no wildcards, separators or empties)."""
    return bool(_SEGMENT.match(value)) and value not in (".", "..")


def matches(filter_: str, topic: str) -> bool:
    """MQTT filter matching (+ and #); a $share/<group>/ prefix is ignored."""
    if filter_.startswith("$share/"):
        filter_ = filter_.split("/", 2)[2]
    f_parts, t_parts = filter_.split("/"), topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


@dataclass(frozen=True)
class Topics:
    prefix: str = "hbmesh"
    bot_namespace: str = "hbot"

    @property
    def root(self) -> str:
        return f"{self.prefix}/{API_VERSION}"

    def command(self, service: str, command: str) -> str:
        return f"{self.root}/{service}/{command}"

    def commands_filter(self, service: str) -> str:
        return f"{self.root}/{service}/#"

    def shared(self, group: str, filter_: str) -> str:
        return f"$share/{group}/{filter_}"

    def event(self, service: str, *parts: str) -> str:
        return "/".join((self.root, service, "events", *parts))

    def events_filter(self, service: str = "+") -> str:
        return f"{self.root}/{service}/events/#"

    def presence(self, service: str, instance_id: str) -> str:
        return f"{self.root}/{service}/presence/{instance_id}"

    def presence_filter(self) -> str:
        return f"{self.root}/+/presence/+"

    def reply_base(self, client_id: str) -> str:
        return f"{self.root}/replies/{client_id}"

    def command_of(self, service: str, topic: str) -> str | None:
        """The command path of a topic addressed to service, or None (events/presence/other)."""
        head = f"{self.root}/{service}/"
        if not topic.startswith(head):
            return None
        rest = topic[len(head):]
        if rest.startswith(("events/", "presence/")) or rest in ("events", "presence"):
            return None
        return rest

    def parse_presence(self, topic: str) -> tuple[str, str] | None:
        parts = topic.split("/")
        if len(parts) == 5 and f"{parts[0]}/{parts[1]}" == self.root and parts[3] == "presence":
            return parts[2], parts[4]
        return None

    def bot(self, instance_id: str, suffix: str) -> str:
        return f"{self.bot_namespace}/{instance_id}/{suffix}"
