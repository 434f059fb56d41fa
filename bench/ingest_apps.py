"""The ASGI app factory the ingest benchmark serves with `bench.loadgen.serve`.

`ingest_app` is the real application, built the way `tierbook serve` builds it, on the database
named by `TIERBOOK_DATABASE_URL` (read by tierbook's own settings). In front of it, one extra
path, `GET /_bench/cpu`, answers the CPU seconds the server process has used so far, so the
benchmark can report CPU per activity, a figure that other work on a shared machine disturbs
far less than requests per second. Every other request goes to the app untouched.
"""

from __future__ import annotations

import time

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.apps import send_json

CPU_PATH = "/_bench/cpu"


def ingest_app() -> ASGIApp:
    from tierbook.api.app import create_app
    from tierbook.bootstrap import bootstrap

    app = create_app(bootstrap())

    async def with_cpu(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CPU_PATH:
            await app(scope, receive, send)
            return
        await send_json(send, orjson.dumps({"cpu_s": time.process_time()}))

    return with_cpu
