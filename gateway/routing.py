"""Finding a request's route by its first path segment before any path regex runs.

Starlette tries routes one by one, and FastAPI's included routers match each request twice; with the gateway's
~150 routes that was about a fifth of its CPU per request. `RouteIndex` sits first in the app's route list and
tries only the routes whose first segment is the request's; the routes also stay in the list behind it, so
OpenAPI, `url_path_for` and anything else that walks `app.routes` sees them as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path
from starlette.types import Receive, Scope, Send

_SELECTED = "hbmesh.route"


def _first_segment(path: str) -> str | None:
    """The literal first segment of a route path; None when it is a parameter."""
    segment = path.lstrip("/").split("/", 1)[0]
    return None if "{" in segment else segment


class RouteIndex(BaseRoute):
    def __init__(self, routes: Iterable[BaseRoute]):
        self._by_segment: dict[str, list[BaseRoute]] = defaultdict(list)
        self._anywhere: list[BaseRoute] = []  # routes whose first segment is a parameter: tried for every path
        for route in routes:
            segment = _first_segment(getattr(route, "path", "/{x}"))
            (self._anywhere if segment is None else self._by_segment[segment]).append(route)
        self._by_segment = dict(self._by_segment)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        segment = get_route_path(scope).lstrip("/").split("/", 1)[0]
        partial = None
        for candidates in (self._by_segment.get(segment, ()), self._anywhere):
            for route in candidates:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    return match, {**child_scope, _SELECTED: route}
                if match is Match.PARTIAL and partial is None:  # path matched, method did not: a 405 later
                    partial = {**child_scope, _SELECTED: route}
        return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_SELECTED].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params):
        raise NoMatchFound(name, path_params)  # the indexed routes answer this themselves, further down the list
