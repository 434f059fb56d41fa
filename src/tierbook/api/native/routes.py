"""The native API (`/v1`): SPEC §4's table, one short handler per row.

Each handler opens a unit of work (a reading one for GETs), calls the service, commits, and
hands the result to `present`. Every call is scoped to the key's tenant. Scopes: GET needs
`read`, writes to members, activities and assignments `write`, programs `admin`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierbook.api.deps import Admin, CheckedRequest, ContainerDep, Reader, Writer
from tierbook.api.native import present
from tierbook.api.native import schemas as s
from tierbook.api.responses import JsonResponse, dumps_in_utc
from tierbook.bootstrap import Container
from tierbook.domain.errors import InvalidInput, UnknownGroup
from tierbook.service import activities, members, programs, queries, tiers, webhooks
from tierbook.service.auth import Principal
from tierbook.service.commands import UpdateMember
from tierbook.service.documents import ProgramDocument
from tierbook.service.model import GroupConfig, ProgramConfig
from tierbook.service.subjects import load_member, load_program

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": s.ErrorOut, "description": text}
    for status, text in {
        401: "No API key, or a wrong one",
        403: "The key lacks the scope",
        404: "Unknown member, program, group or tier",
        409: "Conflict (duplicate member, refused rules change)",
        413: "Body or batch too large",
        415: "The body is not JSON",
        422: "Invalid input; `details` names each field",
    }.items()
}

router = APIRouter(prefix="/v1", dependencies=[CheckedRequest], responses=ERRORS)

ProgramId = Annotated[int, Path(ge=1, le=s.MAX_ID)]
GroupId = Annotated[int, Path(ge=1, le=s.MAX_ID)]
MemberId = Annotated[str, Path(min_length=1, max_length=128)]
AsOf = Annotated[
    s.Instant | None, Query(description="Evaluate as of this RFC 3339 instant (default: now)")
]


def _group(program: ProgramConfig, group_id: int) -> GroupConfig:
    group = program.group(group_id)
    if group is None:
        raise UnknownGroup(f"program {program.id} has no group {group_id}")
    return group


# -- programs -----------------------------------------------------------------------------------


@router.put(
    "/programs/{program_id}",
    tags=["programs"],
    response_model=ProgramDocument,
    responses={201: {"model": ProgramDocument, "description": "Created"}},
)
def put_program(
    program_id: ProgramId,
    document: ProgramDocument,
    principal: Admin,
    container: ContainerDep,
    force: Annotated[bool, Query(description="Apply a change that would be refused")] = False,
) -> Response:
    """Create (201) or replace (200) a program with its groups and tiers: the SPEC §3 document."""
    with container.uow_factory() as uow:
        applied = programs.put_program(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            document=document,
            program_id=program_id,
            force=force,
        )
        uow.commit()
    return JsonResponse(present.program(applied.program), 201 if applied.created else 200)


@router.get("/programs", tags=["programs"], response_model=s.ProgramsOut)
def list_programs(principal: Reader, container: ContainerDep) -> Response:
    """The tenant's programs, each as its SPEC §3 document."""
    with container.uow_factory(write=False) as uow:
        found = uow.programs.list(principal.tenant_id)
    return JsonResponse(present.programs(found))


@router.get("/programs/{program_id}", tags=["programs"], response_model=ProgramDocument)
def get_program(program_id: ProgramId, principal: Reader, container: ContainerDep) -> Response:
    """One program as its SPEC §3 document."""
    with container.uow_factory(write=False) as uow:
        program = load_program(uow, principal.tenant_id, program_id)
    return JsonResponse(present.program(program))


@router.get(
    "/programs/{program_id}/groups/{group_id}/tiers",
    tags=["programs"],
    response_model=s.GroupTiersOut,
)
def group_tiers(
    program_id: ProgramId, group_id: GroupId, principal: Reader, container: ContainerDep
) -> Response:
    """The tier definitions of one group, by rank."""
    with container.uow_factory(write=False) as uow:
        program = load_program(uow, principal.tenant_id, program_id)
    return JsonResponse(present.group_tiers(program, _group(program, group_id).id))


# -- members ------------------------------------------------------------------------------------


@router.post("/members", tags=["members"], status_code=201, response_model=s.MemberOut)
def enrol_member(body: s.MemberIn, principal: Writer, container: ContainerDep) -> Response:
    """Enrol a member: it starts on the floor tier of every group."""
    with container.uow_factory() as uow:
        member, _ = members.enrol(
            uow, container.clock, tenant_id=principal.tenant_id, command=body.command()
        )
        uow.commit()
    headers = {"Location": f"/v1/members/{member.id}"}
    return JsonResponse(present.member(member), 201, headers=headers)


LOOKUP = frozenset({"email", "phone", "limit"})


def _custom_query(request: Request) -> dict[str, str]:
    """`custom.NAME=value` parameters; any other unknown parameter is a misspelling."""
    custom: dict[str, str] = {}
    for name, value in request.query_params.items():
        if name.startswith("custom.") and len(name) > len("custom."):
            custom[name.removeprefix("custom.")] = value
        elif name not in LOOKUP:
            raise InvalidInput(
                f"unknown query parameter {name!r}: use email, phone or custom.NAME", field=name
            )
    return custom


@router.get("/members", tags=["members"], response_model=s.MembersOut)
def find_members(
    request: Request,
    principal: Reader,
    container: ContainerDep,
    email: Annotated[str | None, Query(max_length=320)] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Look members up by `email`, `phone` and/or `custom.NAME=value` (all must match)."""
    custom = _custom_query(request)
    if phone is not None and phone.startswith(" ") and phone[1:].isdigit():
        phone = "+" + phone[1:]  # `?phone=+614…` typed into a URL: its `+` arrived as a space
    with container.uow_factory(write=False) as uow:
        found = members.find(
            uow,
            tenant_id=principal.tenant_id,
            email=email,
            phone=phone,
            custom=custom,
            limit=limit,
        )
    return JsonResponse(present.members(found))


@router.get("/members/{member_id}", tags=["members"], response_model=s.MemberOut)
def get_member(member_id: MemberId, principal: Reader, container: ContainerDep) -> Response:
    """One member's profile."""
    with container.uow_factory(write=False) as uow:
        member = load_member(uow, principal.tenant_id, member_id)
    return JsonResponse(present.member(member))


@router.patch("/members/{member_id}", tags=["members"], response_model=s.MemberOut)
def update_member(
    member_id: MemberId, body: s.MemberPatch, principal: Writer, container: ContainerDep
) -> Response:
    """Change a member's email, phone, custom fields or household; only fields sent change."""
    command = UpdateMember(member_id=member_id, changes=body.changes())
    with container.uow_factory() as uow:
        member, _ = members.update(
            uow, container.clock, tenant_id=principal.tenant_id, command=command
        )
        uow.commit()
    return JsonResponse(present.member(member))


# -- activities ---------------------------------------------------------------------------------


@router.post(
    "/activities",
    tags=["activities"],
    status_code=201,
    response_model=s.ActivityOut,
    responses={200: {"model": s.ActivityOut, "description": "A repeated idempotency_key"}},
)
def record_activity(body: s.ActivityIn, principal: Writer, container: ContainerDep) -> Response:
    """Record one ledger entry; returns it and every tier change it caused."""
    command = body.command(container.clock.now())
    outcome = container.activity_writer.record(principal.tenant_id, command)
    return JsonResponse(
        present.recorded(outcome, outcome.programs), 201 if outcome.entries[0].created else 200
    )


@router.post(
    "/activities:batch",
    tags=["activities"],
    status_code=201,
    response_model=s.BatchOut,
    responses={200: {"model": s.BatchOut, "description": "Every entry was a repeat"}},
)
def record_batch(body: s.BatchIn, principal: Writer, container: ContainerDep) -> Response:
    """Record up to 10,000 entries, all or nothing, idempotent per entry."""
    commands = body.commands(container.clock.now())
    with container.uow_factory() as uow:
        outcome = activities.record(
            uow, container.clock, tenant_id=principal.tenant_id, commands=commands
        )
        out = present.batch(outcome, outcome.programs)
        uow.commit()
    return JsonResponse(out, 201 if out["created"] else 200)


# -- tier states --------------------------------------------------------------------------------


# The hot read: presented straight to JSON; the model documents it and validates nothing.
# Ordinary reads are answered by `hot_member_tiers` ahead of this route; what reaches it (an
# `as_of`, a replay, a key to verify) may take milliseconds, so it runs in the thread pool and
# the event loop goes on serving the fast lane meanwhile.
@router.get(
    "/members/{member_id}/tiers",
    tags=["tiers"],
    responses={200: {"model": s.MemberTiersOut, "description": "Successful Response"}},
)
async def member_tiers(
    member_id: MemberId, principal: Reader, container: ContainerDep, as_of: AsOf = None
) -> Response:
    """The member's state in every active group, with all progress figures."""
    at = as_of or container.clock.now()

    def read() -> list[queries.TierView]:
        with container.uow_factory(write=False) as uow:
            return queries.member_tiers(
                uow, container.clock, tenant_id=principal.tenant_id, member_id=member_id, as_of=at
            )

    return JsonResponse(present.member_tiers(member_id, at, await run_in_threadpool(read)))


async def hot_member_tiers(
    container: Container, principal: Principal, member_id: str
) -> bytes | None:
    """`member_tiers` for `api.hot`: the same document, where stored states answer for now.

    Every instant in it is in UTC (the stored states', and now), which `dumps_in_utc` needs."""
    at = container.clock.now().astimezone(UTC)

    found = await queries.stored_tiers(
        container.hot_reads, tenant_id=principal.tenant_id, member_id=member_id, at=at
    )
    return None if found is None else dumps_in_utc(present.member_tiers(member_id, at, found[0]))


@router.get(
    "/members/{member_id}/tiers/{group_id}/history",
    tags=["tiers"],
    response_model=s.HistoryOut,
)
def tier_history(
    member_id: MemberId,
    group_id: GroupId,
    principal: Reader,
    container: ContainerDep,
    as_of: AsOf = None,
) -> Response:
    """Every change of the member's tier in a group, with its reason and figures."""
    at = as_of or container.clock.now()
    with container.uow_factory(write=False) as uow:
        view, records = queries.history(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            member_id=member_id,
            group_id=group_id,
            as_of=at,
        )
    return JsonResponse(present.history(view, records, at))


@router.get(
    "/members/{member_id}/tiers/{group_id}/explain",
    tags=["tiers"],
    response_model=s.ExplainOut,
)
def explain_tier(
    member_id: MemberId,
    group_id: GroupId,
    principal: Reader,
    container: ContainerDep,
    as_of: AsOf = None,
) -> Response:
    """Why the member holds its tier: the clock's decisions in order, with values compared."""
    at = as_of or container.clock.now()
    with container.uow_factory(write=False) as uow:
        view, records, decisions = queries.explain(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            member_id=member_id,
            group_id=group_id,
            as_of=at,
        )
    return JsonResponse(present.explain(view, records, decisions, at))


@router.post(
    "/members/{member_id}/tiers/{group_id}/assign",
    tags=["tiers"],
    status_code=201,
    response_model=s.AssignOut,
)
def assign_tier(
    member_id: MemberId,
    group_id: GroupId,
    body: s.AssignIn,
    principal: Writer,
    container: ContainerDep,
) -> Response:
    """Assign an `is_assignable` tier by hand: `override`, `floor` or `lock`, until `until`."""
    command = body.command(member_id, group_id)
    with container.uow_factory() as uow:
        assignment, changes = tiers.assign(
            uow, container.clock, tenant_id=principal.tenant_id, command=command
        )
        _, subject = tiers.member_group(uow, principal.tenant_id, member_id, group_id)
        uow.commit()
    return JsonResponse(present.assigned(subject.group, assignment, changes), 201)


@router.delete(
    "/members/{member_id}/tiers/{group_id}/assign",
    tags=["tiers"],
    response_model=s.EndAssignmentOut,
)
def end_assignment(
    member_id: MemberId, group_id: GroupId, principal: Writer, container: ContainerDep
) -> Response:
    """End the member's running assignment in the group now; the ordinary rules take over."""
    with container.uow_factory() as uow:
        changes = tiers.end_assignment(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            member_id=member_id,
            group_id=group_id,
        )
        _, subject = tiers.member_group(uow, principal.tenant_id, member_id, group_id)
        uow.commit()
    return JsonResponse(present.ended(subject.group, changes))


# -- webhooks -----------------------------------------------------------------------------------

WebhookId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/webhooks", tags=["webhooks"], status_code=201, response_model=s.WebhookCreatedOut)
def create_webhook(body: s.WebhookIn, principal: Admin, container: ContainerDep) -> Response:
    """Register an endpoint for tier events; the signing secret is shown only here."""
    with container.uow_factory() as uow:
        created = webhooks.register(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            url=body.url,
            events=body.events,
            secret=body.secret,
        )
        uow.commit()
    return JsonResponse(present.webhook(created, secret=True), 201)


@router.get("/webhooks", tags=["webhooks"], response_model=s.WebhooksOut)
def list_webhooks(principal: Admin, container: ContainerDep) -> Response:
    """The tenant's webhooks, disabled ones included (secrets are never shown again)."""
    with container.uow_factory(write=False) as uow:
        found = uow.webhooks.for_tenant(principal.tenant_id)
    return JsonResponse({"webhooks": [present.webhook(w) for w in found]})


@router.get("/webhooks/{webhook_id}/deliveries", tags=["webhooks"], response_model=s.DeliveriesOut)
def webhook_deliveries(
    webhook_id: WebhookId,
    principal: Admin,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The webhook's deliveries, newest event first: attempts, schedule and outcome."""
    with container.uow_factory(write=False) as uow:
        webhooks.get(uow, tenant_id=principal.tenant_id, webhook_id=webhook_id)
        found = uow.webhooks.deliveries(principal.tenant_id, webhook_id, limit)
    return JsonResponse(present.deliveries(webhook_id, found))


@router.delete("/webhooks/{webhook_id}", tags=["webhooks"], status_code=204)
def delete_webhook(webhook_id: WebhookId, principal: Admin, container: ContainerDep) -> Response:
    """Disable the webhook: nothing more is sent to it, and its pending deliveries end."""
    with container.uow_factory() as uow:
        webhooks.disable(uow, container.clock, tenant_id=principal.tenant_id, webhook_id=webhook_id)
        uow.commit()
    return Response(status_code=204)
