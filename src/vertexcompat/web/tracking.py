"""`RequestTracking`: the outermost middleware, around every HTTP request.

Before the app runs it gives the request its id and `AccessRecord` (`access_log.py`), on
`request.state.access`; the response carries the id as `x-request-id`. When the request is
over — for a streamed answer, when its body ends or its client leaves — it writes the
access line and counts the request in the HTTP metrics (route template, status, project,
duration) and authentication failures (`web/metrics.py`).

Status: what the response said; 499 when the client closed the connection before the
response was complete (the responder answers 499 itself when that happens before any
header; a stream cut off after its headers is noticed here: its body never ended); 500
when the app raised before any header.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertexcompat.web.access_log import (
    ACCESS_LOGGER,
    REQUEST_ID_HEADER,
    AccessRecord,
    request_id_for,
)
from vertexcompat.web.metrics import PrometheusMetrics

CLIENT_CLOSED_REQUEST = 499
UNMATCHED_ROUTE = "unmatched"

_ID_HEADER = REQUEST_ID_HEADER.encode("latin-1")


class RouteTemplates:
    """The route template a request was served by (`/v1/projects/{project}/…`: a bounded
    label, no client's values in it), found among the routes of the endpoint the router
    chose for it (`scope["endpoint"]`; a mount's app). Filled while the app is built."""

    def __init__(self) -> None:
        self._by_endpoint: dict[Any, list[tuple[re.Pattern[str], str]]] = {}

    def add(self, router: Any) -> None:
        """Every route of `router` (its `routes`)."""
        for route in router.routes:
            self._add(route)

    def _add(self, route: BaseRoute) -> None:
        endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
        regex, path = getattr(route, "path_regex", None), getattr(route, "path", None)
        if endpoint is None or regex is None or path is None:
            return
        if hasattr(route, "routes") and not hasattr(route, "endpoint"):  # a mount
            path = path.rstrip("/") + "/{path}"
        self._by_endpoint.setdefault(endpoint, []).append((regex, path))

    def of(self, scope: Scope) -> str | None:
        candidates = self._by_endpoint.get(scope.get("endpoint"))
        if not candidates:
            return None
        if len(candidates) > 1:  # one handler on several paths (v1 and v1beta1)
            path = scope.get("path", "")
            for regex, template in candidates:
                if regex.match(path):
                    return template
        return candidates[0][1]


class RequestTracking:
    def __init__(
        self, app: ASGIApp, *, access_log: bool, metrics: PrometheusMetrics | None,
        templates: RouteTemplates,
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._templates = templates
        self._logger = logging.getLogger(ACCESS_LOGGER) if access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = AccessRecord(
            request_id=request_id_for(_header(scope, _ID_HEADER)), method=scope["method"]
        )
        scope.setdefault("state", {})["access"] = record
        header = (_ID_HEADER, record.request_id.encode("latin-1"))
        complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await send(message)
                complete = True
                return
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BaseException:
            if record.status is None:
                record.status = 500
            raise
        else:
            if not complete:
                record.status = CLIENT_CLOSED_REQUEST
        finally:
            self._finish(scope, record, time.perf_counter() - started)

    def _finish(self, scope: Scope, record: AccessRecord, seconds: float) -> None:
        record.route = self._templates.of(scope) or UNMATCHED_ROUTE
        record.duration_ms = round(seconds * 1000, 1)
        if record.project is None:
            record.project = scope.get("path_params", {}).get("project")
        status = record.status if record.status is not None else 500
        metrics = self._metrics
        if metrics is not None:
            project = (record.project or "") if record.authenticated else ""
            metrics.http_request(record.route, status, project, seconds)
            if record.auth_failure is not None:
                metrics.auth_failure(record.auth_failure)
        if self._logger is not None:
            self._logger.info(record.line())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
