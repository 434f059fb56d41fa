"""The hot reads, served ahead of FastAPI's routing and dependency solving.

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

import logging
import re
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

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
        """The Bearer key's principal where the cache knows it and it may read."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = bearer_of(value.decode("latin-1"))
                principal = None if token is None else self._keys.cached_token(token)
                return principal if principal is not None and principal.allows("read") else None
        return None
