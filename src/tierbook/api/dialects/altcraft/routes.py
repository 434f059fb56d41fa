"""Altcraft (`/api/v1.1`): a member's reached tiers, registration and points accrual.

Thin: the body is decoded (JSON or XML) by `wire`, the key is checked (`token` in the body, or
`Authorization: Bearer`), `translate` turns parameters into service calls and results back into
Altcraft's envelope, answered in the request's own format unless `?format=` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tierbook.api.deps import ContainerDep, VerifierDep
from tierbook.api.dialects.altcraft import translate, wire
from tierbook.api.dialects.altcraft.wire import Format
from tierbook.api.errors import ApiError
from tierbook.api.responses import JsonResponse
from tierbook.api.security import bearer_token
from tierbook.domain.errors import Unauthenticated
from tierbook.service import dialects, queries
from tierbook.service.auth import Principal
from tierbook.service.subjects import load_program

PREFIX = "/api/v1.1"
XML_MEDIA = "application/xml; charset=utf-8"

router = APIRouter(prefix=PREFIX, tags=["Altcraft"])


def respond(body: dict[str, Any], fmt: Format, status: int = 200) -> Response:
    if fmt is Format.XML:
        return Response(wire.encode_xml(body), status_code=status, media_type=XML_MEDIA)
    return JsonResponse(body, status_code=status)


def render(request: Request, error: ApiError) -> Response:
    status, body = translate.error_body(error)
    fmt = getattr(request.state, "altcraft_format", None) or wire.response_format(
        request.query_params.get("format"), request.headers.get("content-type", "")
    )
    return respond(body, fmt, status)


@dataclass(frozen=True, slots=True)
class Parameters:
    fields: dict[str, Any]
    format: Format


async def parameters(request: Request) -> Parameters:
    """The request's parameters, and the format to answer in."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    given = wire.request_format(content_type, body)
    request.state.altcraft_format = given
    chosen = wire.parse_format(request.query_params.get("format")) or given
    request.state.altcraft_format = chosen
    return Parameters(wire.decode(body, given), chosen)


Params = Annotated[Parameters, Depends(parameters)]


def caller(scope: str) -> Any:
    def dependency(params: Params, request: Request, verifier: VerifierDep) -> Principal:
        token = translate.token(params.fields) or bearer_token(request)
        if token is None:
            raise Unauthenticated("API token required: send token, or Authorization: Bearer")
        principal = verifier.verify_token(token)
        principal.require(scope)
        return principal

    return Depends(dependency)


Reader = Annotated[Principal, caller("read")]
Writer = Annotated[Principal, caller("write")]


@router.post("/loyalty/account/tiers")
def account_tiers(params: Params, principal: Reader, container: ContainerDep) -> Response:
    """The tiers a member has reached in a tiers group, in tier order."""
    query = translate.tiers_query(params.fields)
    with container.uow_factory(write=False) as uow:
        program = load_program(uow, principal.tenant_id, query.program_id)
        translate.group_of(program, query.group_id)
        member = dialects.find_member(
            uow, tenant_id=principal.tenant_id, lookup=query.lookup, program_id=program.id
        )
        view, records = queries.history(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            member_id=member.id,
            group_id=query.group_id,
        )
    return respond(translate.tiers_response(view, records), params.format)


@router.post("/loyalty/register_member")
def register_member(params: Params, principal: Writer, container: ContainerDep) -> Response:
    """Enrol the profile `matching` names in a loyalty program (or find it enrolled)."""
    command = translate.registration(params.fields)
    with container.uow_factory() as uow:
        member, _ = dialects.register(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            program_id=command.program_id,
            lookup=command.lookup,
            registered_at=command.registered_at,
        )
        uow.commit()
    return respond(translate.registered(member), params.format)


@router.post("/loyalty/accrue_points")
def accrue_points(params: Params, principal: Writer, container: ContainerDep) -> Response:
    """Accrue tier points to a member; `transaction_eid` makes a retry write nothing twice."""
    accrual = translate.accrual(params.fields)
    with container.uow_factory(write=False) as uow:
        load_program(uow, principal.tenant_id, accrual.program_id)
        member = dialects.find_member(
            uow, tenant_id=principal.tenant_id, lookup=accrual.lookup, program_id=accrual.program_id
        )
    command = translate.record_command(accrual, member, container.clock.now())
    # Recorded as a native single activity is: together with those that arrive meanwhile.
    outcome = container.activity_writer.record(principal.tenant_id, command)
    return respond(translate.accrued(outcome.entries[0]), params.format)
