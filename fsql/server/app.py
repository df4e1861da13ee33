"""`fsql serve`: the HTTP feature server, a Starlette app over one FeatureStore.

Endpoints are Feast's (fsql.server.protocol has the bodies): `POST /get-online-features`,
`/push`, `/materialize`, `/materialize-incremental`, and `GET /health`, `/metrics`.

Online reads run on the event loop itself: a read is one store lookup of tens of
microseconds (SQLite) to a round trip (Redis), cheaper than a hop to a thread, and
`--workers` processes give parallelism. Pushes and materializations write to the offline
engine and take seconds: they run in a worker thread, one at a time (the store's lock),
and the store (opened with `hold_offline=False`) releases the offline engine afterwards, so
that the server never holds a DuckDB file that `fsql run` in another process needs.
Served vectors of services with `logging:` are queued by the store and written by its
background thread (fsql.execute.feature_logger). Every failure is a JSON body with
`detail`: 4xx for a request fsql cannot answer as asked (fsql.errors.ProjectError), 503
when a store fails (RunError), 500 with no detail of the internals for anything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fsql.errors import FsqlError, ProjectError, RunError
from fsql.online.freshness import FreshnessRow
from fsql.server import protocol
from fsql.server.metrics import CONTENT_TYPE, Metrics
from fsql.store import FeatureStore

_LOG = logging.getLogger("fsql.serve")
JSON = "application/json"
# A larger body is refused (413) before it is read whole: a bound on what one request
# can make the server hold. 100 entity rows are a few kilobytes.
MAX_BODY_BYTES = 64 * 1024 * 1024

Handler = Callable[[Request], Awaitable[Response]]


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise protocol.BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes", status=413)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise protocol.BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


class FeatureServer:
    """The endpoints over one store, with their metrics."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self.metrics = Metrics(self._freshness, lambda: store.feature_logger.stats)

    def _freshness(self) -> Sequence[FreshnessRow]:
        try:
            return self.store.freshness(check_inputs=False)
        except FsqlError:
            return []  # a store that cannot be read: /health says so

    def timed(self, endpoint: str, handler: Handler) -> Handler:
        """`handler` with its errors answered as JSON and its requests counted."""

        async def endpoint_handler(request: Request) -> Response:
            began = time.perf_counter()
            try:
                response = await handler(request)
            except protocol.BadRequest as err:
                response = _json(protocol.error_body(err.render()), err.status)
            except ProjectError as err:
                response = _json(protocol.error_body(err.render()), 400)
            except RunError as err:
                _LOG.warning("%s failed: %s", endpoint, err.render())
                response = _json(protocol.error_body(err.render()), 503)
            except Exception:
                _LOG.exception("%s failed", endpoint)
                response = _json(protocol.error_body("internal error; see the server log"), 500)
            self.metrics.observe(endpoint, response.status_code, time.perf_counter() - began)
            return response

        return endpoint_handler

    async def get_online_features(self, request: Request) -> Response:
        ask = protocol.online_request(await _read_body(request))
        answer = self.store.get_online_features(
            ask.features,
            ask.entity_rows,
            ask.feature_service,
            ask.full_feature_names,
            statuses=True,
        )
        selection = self.store.feature_selection(
            ask.features, ask.feature_service, ask.full_feature_names
        )
        nested = {n for n, t in selection.feature_types.items() if t.kind == "json"}
        return _json(protocol.online_response(answer, nested))

    async def push(self, request: Request) -> Response:
        ask = protocol.push_request(await _read_body(request))
        rows = await run_in_threadpool(self._push_rows, ask)
        return _json(orjson.dumps({"view": ask.view, "rows": rows}))

    def _push_rows(self, ask: protocol.PushRequest) -> int:
        import pyarrow as pa

        try:
            table = pa.table(ask.columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise protocol.BadRequest(f"'df' cannot be read as columns: {err}") from None
        return self.store.push(ask.view, table)

    async def materialize(self, request: Request) -> Response:
        return await self._materialize(request, incremental=False)

    async def materialize_incremental(self, request: Request) -> Response:
        return await self._materialize(request, incremental=True)

    async def _materialize(self, request: Request, incremental: bool) -> Response:
        ask = protocol.materialize_request(await _read_body(request), incremental)

        def work() -> list[dict[str, Any]]:
            if incremental:
                results = self.store.materialize_incremental(ask.end, ask.views)
            else:
                results = self.store.materialize(ask.start, ask.end, ask.views)
            return [{"view": r.view, "rows": r.rows, "reason": r.reason} for r in results]

        done = await run_in_threadpool(work)
        return _json(orjson.dumps({"views": done}))

    async def health(self, request: Request) -> Response:
        """200 when the online store answers (each online view's state is read)."""
        rows = await run_in_threadpool(self.store.freshness, check_inputs=False)
        return _json(orjson.dumps({"status": "ok", "views": len(rows)}))

    async def prometheus(self, request: Request) -> Response:
        body = await run_in_threadpool(self.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)


def create_app(store: FeatureStore) -> Starlette:
    """The server's app over `store`; the store is closed when the app shuts down."""
    server = FeatureServer(store)
    routes = [
        ("/get-online-features", "POST", server.get_online_features),
        ("/push", "POST", server.push),
        ("/materialize", "POST", server.materialize),
        ("/materialize-incremental", "POST", server.materialize_incremental),
        ("/health", "GET", server.health),
        ("/metrics", "GET", server.prometheus),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Connect before the first request rather than during it.
        await run_in_threadpool(store.freshness, check_inputs=False)
        try:
            yield
        finally:
            store.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _json(
            protocol.error_body(f"{request.method} {request.url.path}: {exc.detail}"),
            exc.status_code,
        )

    app = Starlette(
        routes=[
            Route(path, server.timed(path, handler), methods=[method])
            for path, method, handler in routes
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.state.server = server
    return app
