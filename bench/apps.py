"""ASGI app factories the read benchmark serves with `bench.loadgen.serve` (`uvicorn --factory`).

`tierbook_app` is the real application, built the way `tierbook serve` builds it, on the
database named by `TIERBOOK_DATABASE_URL`.

The floors answer the two read paths with the JSON documents in the folder named by
`TIERBOOK_BENCH_FLOOR_BODIES` (`native.json` and `omneo.json`: real responses, so the bodies are
the same size), encoded with orjson on each request: `floor_fastapi` is an `async` FastAPI
route per path, with its path parameter (the goal's reference), `floor_starlette` a Starlette
route per path, `floor_asgi` a bare ASGI callable. Nothing in a floor touches a database or
checks a key: it is what the framework costs by itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

FLOOR_BODIES = "TIERBOOK_BENCH_FLOOR_BODIES"
NATIVE = "/v1/members/{member_id}/tiers"
OMNEO = "/api/v3/profiles/{profile_id}/tiers"


def tierbook_app() -> ASGIApp:
    from tierbook.api.app import create_app
    from tierbook.bootstrap import bootstrap

    return create_app(bootstrap())


def _bodies() -> tuple[Any, Any]:
    folder = Path(os.environ[FLOOR_BODIES])
    return (
        orjson.loads((folder / "native.json").read_bytes()),
        orjson.loads((folder / "omneo.json").read_bytes()),
    )


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def floor_fastapi() -> ASGIApp:
    native, omneo = _bodies()
    app = FastAPI()

    @app.get(NATIVE)
    async def member_tiers(member_id: str) -> Response:
        del member_id  # parsed, as a real route's is
        return _json(native)

    @app.get(OMNEO)
    async def profile_tier(profile_id: str) -> Response:
        del profile_id
        return _json(omneo)

    return app


def floor_starlette() -> ASGIApp:
    native, omneo = _bodies()

    async def member_tiers(_: Request) -> Response:
        return _json(native)

    async def profile_tier(_: Request) -> Response:
        return _json(omneo)

    return Starlette(routes=[Route(NATIVE, member_tiers), Route(OMNEO, profile_tier)])


def floor_asgi() -> ASGIApp:
    native, omneo = _bodies()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await send_json(send, orjson.dumps(native if scope["path"].startswith("/v1/") else omneo))

    return app


async def send_json(send: Send, body: bytes) -> None:
    """Answer 200 with the JSON `body`, as a bare ASGI app does."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
