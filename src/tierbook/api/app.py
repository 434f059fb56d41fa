"""The ASGI application: native API, vendor dialects, one error mapping, a body size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierbook import __version__
from tierbook.api import dialects, errors
from tierbook.api.dialects.omneo.routes import hot_profile_tier
from tierbook.api.dialects.omneo.routes import router as omneo_router
from tierbook.api.hot import HotReads, HotWrite, HotWrites
from tierbook.api.native import schemas
from tierbook.api.native.routes import hot_member_tiers, record_activity
from tierbook.api.native.routes import router as native_router
from tierbook.api.responses import JsonResponse
from tierbook.api.security import KeyVerifier
from tierbook.bootstrap import Container


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = errors.ApiError(413, "payload_too_large", f"body exceeds {self.limit} bytes")
        response = errors.render(Request(scope, receive), error)
        await response(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so the framework (which turns any other error
    while reading a body into a 400) passes it on to the error handlers as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body exceeds {limit} bytes")


class Application(FastAPI):
    """FastAPI, with the hot paths (`api.hot`) answered ahead of its whole stack.

    A middleware runs inside FastAPI's own layers (its telemetry hook, the server error
    handler, its body limit), which cost a hot read about 6% of its time; the hot
    reads need none of them, as they answer only what is known to be a 200 and hand the rest,
    errors included, to `framework`. The hot write (`api.hot.HotWrites`) stands between them
    and `framework`, and hands on, likewise, every request it does not take.
    """

    hot_reads: ASGIApp | None = None
    """The hot reads, in front of the hot write, in front of `framework`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_reads is None:
            await self.framework(scope, receive, send)
        else:
            await self.hot_reads(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The application without its hot reads: FastAPI's stack and routes."""
        await super().__call__(scope, receive, send)


def create_app(container: Container) -> Application:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The hot reads' connections belong to the event loop that serves the application.
        await container.hot_reads.open()
        try:
            yield
        finally:
            await container.hot_reads.close()

    app = Application(
        title="tierbook",
        version=__version__,
        summary="An open-source loyalty tier engine.",
        default_response_class=JsonResponse,
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.keys = KeyVerifier(container.uow_factory, container.settings.key_cache_seconds)
    errors.install(app)
    _hot_reads_first(native_router, omneo_router)
    app.include_router(native_router)
    dialects.include_dialects(app)
    app.add_middleware(BodyLimit, limit=container.settings.max_body_bytes)
    hot_writes = HotWrites(
        app.framework,
        container=container,
        keys=app.state.keys,
        routes={"/v1/activities": HotWrite(schemas.ActivityIn, "write", record_activity)},
        max_body_bytes=container.settings.max_body_bytes,
    )
    app.hot_reads = HotReads(
        hot_writes,
        container=container,
        keys=app.state.keys,
        routes={
            ("/v1/members/", "/tiers"): hot_member_tiers,
            ("/api/v3/profiles/", "/tiers"): hot_profile_tier,
        },
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


HOT_READS = frozenset({"/v1/members/{member_id}/tiers", "/api/v3/profiles/{profile_id}/tiers"})
"""The reads a loyalty front end makes on every page view."""


def _hot_reads_first(*routers: APIRouter) -> None:
    """Put the hot reads' GET routes first in their routers.

    A router tries its routes in order until one matches, twice per request (to pick the
    router, then the route); the hot reads were registered after some twenty others, and trying
    those cost each hot read a tenth of its time. No other route answers GET on these paths, so
    the order changes which route is tried first, never which one answers.
    """
    for router in routers:
        router.routes.sort(
            key=lambda r: (
                not (isinstance(r, APIRoute) and r.path in HOT_READS and "GET" in (r.methods or ()))
            )
        )
