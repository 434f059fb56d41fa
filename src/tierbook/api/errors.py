"""Mapping tierbook's error tree to HTTP, once, with one envelope renderer per API dialect.

The native envelope is `{"error": {"code", "message", "details"}}`. A dialect registers its own
renderer for its path prefix with `register_dialect`; the app's handlers pick the renderer by
the request path, so every error (ours, a validation error, a 404 for an unknown route, a body
that is too large) leaves in the caller's own dialect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tierbook.api.responses import JsonResponse
from tierbook.domain import errors as e

log = logging.getLogger("tierbook.api")

# Most specific first: the first class an error is an instance of decides its status.
STATUS: tuple[tuple[type[e.TierbookError], int], ...] = (
    (e.BatchTooLarge, 413),
    (e.InvalidInput, 422),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.Unauthenticated, 401),
    (e.Forbidden, 403),
    (e.Unavailable, 503),
)

RETRY_AFTER_S = 5
"""What a 503 (the database cannot be reached) asks the caller to wait before trying again."""


def status_of(error: e.TierbookError) -> int:
    return next((code for cls, code in STATUS if isinstance(error, cls)), 400)


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error on its way out, in dialect-neutral terms."""

    status: int
    code: str
    message: str
    field: str | None = None
    details: Any = None


Renderer = Callable[[Request, ApiError], Response]
_renderers: list[tuple[str, Renderer]] = []


def native_renderer(_: Request, error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    elif error.field is not None:
        body["details"] = {"field": error.field}
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JsonResponse({"error": body}, status_code=error.status, headers=headers)


def register_dialect(prefix: str, renderer: Renderer) -> None:
    """Render errors under `prefix` with `renderer` (longest prefix wins)."""
    _renderers.append((prefix, renderer))
    _renderers.sort(key=lambda item: -len(item[0]))


def render(request: Request, error: ApiError) -> Response:
    path = request.url.path
    renderer = next((r for prefix, r in _renderers if path.startswith(prefix)), native_renderer)
    response = renderer(request, error)
    if response.status_code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def from_tierbook(error: e.TierbookError) -> ApiError:
    return ApiError(status_of(error), error.code, error.message, error.field, error.details)


def field_path(loc: Sequence[str | int]) -> str:
    """A pydantic location as the field name a client wrote: `entries[3].points`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            # The location is a character offset, not a field.
            reason = (err.get("ctx") or {}).get("error", "")
            message = f"malformed JSON at character {loc[-1]}: {reason}".rstrip(": ")
            details.append({"field": "body", "message": message})
            continue
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        details.append({"field": field_path(loc) or "body", "message": err.get("msg", "")})
    return details


def from_validation(exc: RequestValidationError) -> ApiError:
    details = _validation_details(exc)
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return ApiError(
        422, "invalid_input", f"{first['field']}: {first['message']}", first["field"], details
    )


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


async def respond(request: Request, exc: Exception) -> Response:
    """The response to an error, in the caller's dialect: what the application's handlers
    (`install`) answer, also for a request answered ahead of the framework (`api.hot`)."""
    if isinstance(exc, e.TierbookError):
        if isinstance(exc, e.Unavailable):
            where = f"{request.method} {request.url.path}"
            log.warning("database unavailable on %s: %s", where, exc.__cause__)
        return render(request, from_tierbook(exc))
    if isinstance(exc, RequestValidationError):
        return render(request, from_validation(exc))
    if isinstance(exc, StarletteHTTPException):
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return render(request, ApiError(exc.status_code, code, message))
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(request, ApiError(500, "internal_error", "internal error"))


def install(app: FastAPI) -> None:
    for kind in (e.TierbookError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, respond)
