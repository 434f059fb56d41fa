"""FastAPI dependencies shared by the native API and the dialects: keys, scopes, clean input."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from tierbook.api.errors import field_path
from tierbook.api.security import KeyVerifier, bearer_token
from tierbook.bootstrap import Container
from tierbook.domain.errors import InvalidInput, Unauthenticated
from tierbook.service.auth import Principal

# Dependencies that do no I/O are `async`: FastAPI runs a plain `def` dependency in the thread
# pool, a hop that costs a hot read more than the work itself.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_verifier(request: Request) -> KeyVerifier:
    verifier: KeyVerifier = request.app.state.keys
    return verifier


ContainerDep = Annotated[Container, Depends(get_container)]
VerifierDep = Annotated[KeyVerifier, Depends(get_verifier)]


async def principal_of(verifier: KeyVerifier, token: str) -> Principal:
    """The token's principal: from the key cache, or verified against the database (in the
    thread pool, since that reads it)."""
    principal = verifier.cached_token(token)
    if principal is None:
        principal = await run_in_threadpool(verifier.verify_token, token)
    return principal


def scoped(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the Bearer key's principal, which must hold `scope`."""

    async def dependency(request: Request) -> Principal:
        token = bearer_token(request)
        if token is None:
            raise Unauthenticated("send the API key as Authorization: Bearer ID.SECRET")
        principal = await principal_of(request.app.state.keys, token)
        principal.require(scope)
        return principal

    return dependency


Reader = Annotated[Principal, Depends(scoped("read"))]
Writer = Annotated[Principal, Depends(scoped("write"))]
Admin = Annotated[Principal, Depends(scoped("admin"))]


# -- what no store keeps ------------------------------------------------------------------------
# PostgreSQL refuses NUL in text, no driver encodes a lone surrogate, JSON has no NaN, and the
# tables hold 64-bit integers: such input is refused at the edge with the field named, rather
# than reaching the database and failing there as a 500.

MAX_INT = 2**63 - 1
MAX_DEPTH = 32
JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text may not contain NUL characters"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text is not valid Unicode (it holds a lone surrogate)"
    return None


def json_problem(value: object, depth: int = 0) -> tuple[list[str | int], str] | None:
    """The location and nature of the first value no store keeps, or None."""
    if isinstance(value, str):
        problem = _text_problem(value)
        return None if problem is None else ([], problem)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else ([], "integer out of range")
    if isinstance(value, float):
        return None if math.isfinite(value) else ([], "numbers must be finite")
    if depth >= MAX_DEPTH:
        return [], f"nested more than {MAX_DEPTH} levels deep"
    items: Iterable[tuple[str | int, object]]
    if isinstance(value, dict):
        for key in value:
            problem = _text_problem(key)
            if problem is not None:
                return [key], problem
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = json_problem(item, depth + 1)
        if found is not None:
            found[0].insert(0, key)
            return found
    return None


def _refuse(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{field}: {problem}", field=field)


async def checked_request(request: Request) -> None:
    """Refuse unusable text in the path and query, and a body that is not clean JSON (415)."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        problem = _text_problem(name) or _text_problem(str(value))
        if problem is not None:
            raise _refuse(name, problem)
    if request.method not in JSON_METHODS:
        return
    content_type = request.headers.get("content-type", "")
    media = content_type.partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise HTTPException(
            415, f"send JSON with Content-Type: application/json (got {content_type or 'none'})"
        )
    if not await request.body():
        return  # the route reports the missing body
    try:
        # Parsed (and cached) already where the route takes a body; here only for one that
        # does not, which still should not be sent what it cannot read.
        body = await request.json()
    except (ValueError, RecursionError):
        raise InvalidInput("body: malformed JSON", field="body") from None
    found = json_problem(body)
    if found is not None:
        raise _refuse(field_path(found[0]) or "body", found[1])


CheckedRequest = Depends(checked_request)
