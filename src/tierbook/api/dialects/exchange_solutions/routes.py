"""Exchange Solutions: `/oauth/token`, user sessions, and membership tiers under `/client`.

A client trades its key (`client_id=ID`, `client_secret=SECRET`) for an expiring bearer token,
opens a session on a member, and reads the member's membership through the session's
correlation id until it closes the session or the session expires.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from tierbook.api.deps import CheckedRequest, ContainerDep, VerifierDep
from tierbook.api.dialects.exchange_solutions import tokens, translate
from tierbook.api.errors import ApiError
from tierbook.api.responses import JsonResponse
from tierbook.api.security import basic_pair, bearer_token
from tierbook.bootstrap import Container
from tierbook.domain.errors import InvalidInput, Unauthenticated
from tierbook.service import dialects, queries
from tierbook.service.auth import Principal

CLIENT = "/client"
OAUTH = "/oauth"
MAX_FORM_FIELDS = 20

oauth_router = APIRouter(prefix=OAUTH, tags=["Exchange Solutions"])
client_router = APIRouter(prefix=CLIENT, tags=["Exchange Solutions"], dependencies=[CheckedRequest])


def render(_: Request, error: ApiError) -> Response:
    status, body = translate.error_body(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JsonResponse(body, status_code=status, headers=headers)


def render_oauth(_: Request, error: ApiError) -> Response:
    status, body = translate.oauth_error_body(error)
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="tierbook"'
    return JsonResponse(body, status_code=status, headers=headers)


def _signing_secret(request: Request, container: Container) -> str:
    """The configured token secret, or the one kept in the database (read once per app)."""
    cached: str | None = getattr(request.app.state, "es_token_secret", None)
    if cached is None:
        cached = container.settings.token_secret or dialects.token_secret(
            container.uow_factory, container.clock
        )
        request.app.state.es_token_secret = cached
    return cached


async def token_form(request: Request) -> dict[str, str]:
    """The token request's parameters: a form (as RFC 6749 has it) or a JSON object."""
    body = await request.body()
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    try:
        if media == "application/json":
            loaded = orjson.loads(body or b"{}")
            if not isinstance(loaded, dict):
                raise ValueError("not an object")
            pairs = [(str(k), v) for k, v in loaded.items() if isinstance(v, str)]
        else:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("send the token request as a form", field="body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidInput(f"{name} is given more than once", field=name)
        form[name] = value
    return form


@oauth_router.post("/token")
def issue_token(
    form: Annotated[dict[str, str], Depends(token_form)],
    request: Request,
    container: ContainerDep,
    verifier: VerifierDep,
) -> Response:
    """OAuth 2.0 client credentials: an API key's ID and secret for an expiring bearer token."""
    credentials = translate.client_credentials(form, basic_pair(request))
    principal = verifier.verify_pair(credentials.client_id, credentials.client_secret)
    ttl = container.settings.token_ttl_seconds
    token, _ = tokens.issue(
        _signing_secret(request, container),
        key_id=principal.key_id,
        tenant_id=principal.tenant_id,
        scopes=principal.scopes,
        now=container.clock.now(),
        ttl=timedelta(seconds=ttl),
    )
    body = translate.token_response(token, ttl, principal.scopes)
    return JsonResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def bearer(request: Request, container: ContainerDep) -> Principal:
    """The key behind the bearer token, as it stands now (a revoked key's tokens stop)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("send Authorization: Bearer <access token> from /oauth/token")
    claims = tokens.verify(_signing_secret(request, container), token, now=container.clock.now())
    with container.uow_factory(write=False) as uow:
        key = uow.keys.get(claims.key_id)
    if key is None or key.revoked_at is not None or key.tenant_id != claims.tenant_id:
        raise Unauthenticated("the key this token was issued for is revoked")
    principal = Principal(tenant_id=key.tenant_id, key_id=key.id, scopes=key.scopes)
    principal.require("read")
    return principal


Client = Annotated[Principal, Depends(bearer)]
IdentifierType = Annotated[str | None, Header(alias="X-Identifier-Type", max_length=40)]


@client_router.post("/users/{identifier}/sessions", status_code=201)
def open_session(
    identifier: str,
    body: translate.SessionIn,
    principal: Client,
    container: ContainerDep,
    identifier_type: IdentifierType = None,
) -> Response:
    """Open a session on the member `identifier` names (by `X-Identifier-Type`)."""
    wanted = translate.session_request(identifier, identifier_type, body)
    with container.uow_factory() as uow:
        session, opened = dialects.open_session(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            lookup=wanted.lookup,
            identifier_type=wanted.identifier_type,
            correlation_id=wanted.correlation_id,
            channel=wanted.channel,
            ttl=timedelta(seconds=container.settings.session_ttl_seconds),
        )
        uow.commit()
    return JsonResponse(translate.session(session), status_code=201 if opened else 200)


@client_router.delete("/users/{correlation_id}/sessions", status_code=204)
def close_session(correlation_id: str, principal: Client, container: ContainerDep) -> Response:
    """Close an open session; it cannot be used or reopened after."""
    with container.uow_factory() as uow:
        dialects.close_session(
            uow, container.clock, tenant_id=principal.tenant_id, correlation_id=correlation_id
        )
        uow.commit()
    return Response(status_code=204)


@client_router.get("/users/{correlation_id}/membership")
def membership(correlation_id: str, principal: Client, container: ContainerDep) -> Response:
    """The session member's tier in each active membership program, keyed by program code."""
    with container.uow_factory(write=False) as uow:
        session = dialects.live_session(
            uow, container.clock, tenant_id=principal.tenant_id, correlation_id=correlation_id
        )
        views = queries.member_tiers(
            uow, container.clock, tenant_id=principal.tenant_id, member_id=session.member_id
        )
    return JsonResponse(translate.membership(views))
