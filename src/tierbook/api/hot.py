"""The hot paths, served ahead of FastAPI's routing and dependency solving.

Hot reads.

`GET /v1/members/{id}/tiers` and Omneo's `GET /api/v3/profiles/{id}/tiers` are what a loyalty
front end asks on every page view. FastAPI spends more time matching the route, solving its
dependencies and checking the path than the read itself takes, so `HotReads` answers these two
paths first, as a plain ASGI application, when everything about the request is ordinary: no
query string, a plain id, an API key verified within the key cache's time, a read scope, and
stored states that answer for now (`queries.stored_tiers`). The handler renders the same
document through the same functions as its route.

Anything else (an `as_of`, an unknown member, a key to verify, a state to replay, a first
Omneo read that must give the record its id, any error) passes the request unchanged to the
application, whose route answers it: the fast path never decides an outcome, it only skips the
machinery where the outcome is already known to be a 200. It runs ahead of the whole framework
(`api.app.Application`), its error handling included, so a failure it did not expect is logged
and the request handed on like any other.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierbook.api.deps import json_problem
from tierbook.api.errors import respond
from tierbook.api.security import KeyVerifier, bearer_of
from tierbook.bootstrap import Container
from tierbook.domain.errors import TierbookError
from tierbook.service.auth import Principal

Handler = Callable[[Container, Principal, str], Awaitable[bytes | None]]
"""Renders the body of a 200 for (container, principal, id), or None to leave it to the route."""

_log = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")
"""Ids the fast path takes: a subset of what every route accepts, with nothing to decode."""


class HotReads:
    """Answer the `routes` (path prefix and suffix around one id) ahead of `app`, or pass on."""

    def __init__(
        self,
        app: ASGIApp,
        container: Container,
        keys: KeyVerifier,
        routes: dict[tuple[str, str], Handler],
    ) -> None:
        self.app = app
        self._container = container
        self._keys = keys
        self._routes = list(routes.items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            body = await self._answer(scope)
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        for (prefix, suffix), handler in self._routes:
            if path.startswith(prefix) and path.endswith(suffix):
                item = path[len(prefix) : len(path) - len(suffix)]
                if not _ID.fullmatch(item):
                    return None
                principal = self._principal(scope)
                if principal is None:
                    return None
                try:
                    return await handler(self._container, principal, item)
                except TierbookError:
                    return None  # the route reports it
                except Exception:
                    # Outside the framework's error handling: the route answers instead.
                    _log.exception("the hot read of %s failed; its route answers it", path)
                    return None
        return None

    def _principal(self, scope: Scope) -> Principal | None:
        return _cached_principal(self._keys, scope, "read")


def _cached_principal(keys: KeyVerifier, scope: Scope, needed: str) -> Principal | None:
    """The Bearer key's principal where the cache knows it and it holds the scope `needed`."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = bearer_of(value.decode("latin-1"))
            principal = None if token is None else keys.cached_token(token)
            return principal if principal is not None and principal.allows(needed) else None
    return None


@dataclass(frozen=True, slots=True)
class HotWrite:
    """A write route the fast lane may take: the model of its body, the scope it needs, and
    the route's function, called as FastAPI calls it: (body, principal, container)."""

    model: type[BaseModel]
    scope: str
    route: Callable[[Any, Principal, Container], Response]


class HotWrites:
    """Take `POST` to the `routes` (by exact path) ahead of `app`, or pass on."""

    def __init__(
        self,
        app: ASGIApp,
        container: Container,
        keys: KeyVerifier,
        routes: Mapping[str, HotWrite],
        *,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self._container = container
        self._keys = keys
        self._routes = dict(routes)
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope)
        principal = None if route is None else _cached_principal(self._keys, scope, route.scope)
        if route is None or principal is None:
            await self.app(scope, receive, send)
            return
        received, body = await _read_body(receive, self._limit)
        replay = _replaying(received, receive)
        parsed = None if body is None else _parsed(body, route.model)
        if parsed is None:
            await self.app(scope, replay, send)
            return
        try:
            response = await run_in_threadpool(route.route, parsed, principal, self._container)
        except Exception as exc:  # answered as the application's handlers answer it
            response = await respond(Request(scope, replay), exc)
        await response(scope, replay, send)

    def _route(self, scope: Scope) -> HotWrite | None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            return None
        route = self._routes.get(scope["path"])
        if route is None:
            return None
        for name, value in scope["headers"]:
            if name == b"content-type":
                media = value.partition(b";")[0].strip().lower()
                return route if media == b"application/json" else None
        return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The messages received, and the whole body; None for the body where it is over `limit`
    bytes (the rest is left unread) or the client went away."""
    received: list[Message] = []
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return received, None
        part: bytes = message.get("body", b"")
        size += len(part)
        if size > limit:
            return received, None
        parts.append(part)
        if not message.get("more_body", False):
            return received, b"".join(parts)


def _replaying(received: Sequence[Message], receive: Receive) -> Receive:
    """`receive` with the messages already received given first, again."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _parsed(body: bytes, model: type[BaseModel]) -> BaseModel | None:
    """The body as the route's model, where it is clean JSON the model takes; None otherwise.

    Parsed by the standard library, as the framework parses it: another parser reads some
    texts otherwise (orjson reads an integer beyond 64 bits as a float, where `json` gives
    the integer that `json_problem` refuses)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or json_problem(data) is not None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
