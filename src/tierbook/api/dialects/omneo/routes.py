"""Omneo (`/api/v3`): profile tiers, calculate, assign, and tier definitions.

Thin: each handler opens a unit of work, calls the service, and hands the result to
`translate`. Auth is `Authorization: Bearer ID.SECRET`; reads need `read`, calculate and assign
`write`, definition changes `admin`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tierbook.api.deps import Admin, CheckedRequest, ContainerDep, Reader, Writer
from tierbook.api.dialects.omneo import translate
from tierbook.api.errors import ApiError
from tierbook.api.responses import JsonResponse, dumps
from tierbook.bootstrap import Container
from tierbook.service import definitions, dialects, queries, tiers
from tierbook.service.auth import Principal
from tierbook.service.ports import Clock, UnitOfWork
from tierbook.service.queries import TierView
from tierbook.service.subjects import load_member, load_program

PREFIX = "/api/v3"

router = APIRouter(prefix=PREFIX, tags=["Omneo"], dependencies=[CheckedRequest])

GroupRef = Annotated[
    str | None,
    Query(max_length=100, description="Tier group by id or code (default: the program's)"),
]
AsOf = Annotated[
    str | None,
    Query(max_length=40, description="Evaluate as of this instant (RFC 3339 or Omneo's format)"),
]
Force = Annotated[bool, Query(description="Apply a change that renumbers ranks")]


def render(_: Request, error: ApiError) -> Response:
    status, body = translate.error_body(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JsonResponse(body, status_code=status, headers=headers)


def _view(
    uow: UnitOfWork,
    clock: Clock,
    tenant_id: str,
    profile_id: str,
    group: str | None,
    as_of: datetime | None = None,
) -> TierView:
    (view,) = queries.member_tiers(
        uow,
        clock,
        tenant_id=tenant_id,
        member_id=profile_id,
        as_of=as_of,
        choose=lambda program: translate.pick_group(program, group),
    )
    return view


def _record(
    uow: UnitOfWork, tenant_id: str, view: TierView, *, allocate: bool = False
) -> dialects.TierRecord:
    return dialects.tier_record(
        uow,
        tenant_id=tenant_id,
        group_id=view.group.id,
        member_id=view.member.id,
        stored=view.stored,
        allocate=allocate,
    )


def _respond(
    container: Container, tenant_id: str, view: TierView, record: dialects.TierRecord
) -> Response:
    record_id = record.id
    if record_id is None:  # a first read: the record's id is made now
        record_id = dialects.profile_tier_id(
            container.uow_factory,
            tenant_id=tenant_id,
            group_id=view.group.id,
            member_id=view.member.id,
        )
    shown = translate.ProfileTierRecord(record_id, record.created_at, record.updated_at)
    return JsonResponse({"data": translate.profile_tier(view, shown)})


# The hot read. Ordinary reads are answered by `hot_profile_tier` ahead of this route; what
# reaches it (an `as_of`, a replay, a first read) may take milliseconds, so it runs in the
# thread pool and the event loop goes on serving the fast lane meanwhile.
@router.get("/profiles/{profile_id}/tiers")
async def profile_tier(
    profile_id: str,
    principal: Reader,
    container: ContainerDep,
    group: GroupRef = None,
    as_of: AsOf = None,
) -> Response:
    """A profile's tier: current, next and previous tiers, progress, credit, anniversary."""
    at = None if as_of is None else translate.parse_as_of(as_of)
    tenant_id = principal.tenant_id

    def read() -> tuple[TierView, dialects.TierRecord]:
        with container.uow_factory(write=False) as uow:
            view = _view(uow, container.clock, tenant_id, profile_id, group, at)
            return view, _record(uow, tenant_id, view)

    view, record = await run_in_threadpool(read)
    if record.id is None:  # a first read makes the record's id: a write
        return await run_in_threadpool(_respond, container, tenant_id, view, record)
    return _respond(container, tenant_id, view, record)


async def hot_profile_tier(
    container: Container, principal: Principal, profile_id: str
) -> bytes | None:
    """`profile_tier` for `api.hot`: the same document, where stored states answer for now and
    the record already has its id."""
    at = container.clock.now()

    found = await queries.stored_tiers(
        container.hot_reads,
        tenant_id=principal.tenant_id,
        member_id=profile_id,
        at=at,
        choose=lambda program: translate.pick_group(program, None),
    )
    if found is None:
        return None
    (view,), snapshot = found
    record_id = snapshot.profile_tier_ids.get(view.group.id)
    if record_id is None or view.stored is None:
        return None
    shown = translate.ProfileTierRecord(record_id, view.stored.created_at, view.stored.updated_at)
    return dumps({"data": translate.profile_tier(view, shown)})


@router.get("/profiles/{profile_id}/tiers/calculate")
def calculate(
    profile_id: str, principal: Writer, container: ContainerDep, group: GroupRef = None
) -> Response:
    """Bring the profile's tiers up to now (writing whatever fell due) and return its tier."""
    with container.uow_factory() as uow:
        load_member(uow, principal.tenant_id, profile_id)
        dialects.recalculate(
            uow, container.clock, tenant_id=principal.tenant_id, member_ids=[profile_id]
        )
        view = _view(uow, container.clock, principal.tenant_id, profile_id, group)
        record = _record(uow, principal.tenant_id, view, allocate=True)
        uow.commit()
    return _respond(container, principal.tenant_id, view, record)


@router.post("/profiles/{profile_id}/tiers/assign")
def assign(
    profile_id: str,
    body: translate.AssignIn,
    principal: Writer,
    container: ContainerDep,
    group: GroupRef = None,
) -> Response:
    """Assign the profile a tier by handle (an `override`: the ordinary rules apply after)."""
    with container.uow_factory() as uow:
        member = load_member(uow, principal.tenant_id, profile_id)
        chosen = translate.pick_group(
            load_program(uow, principal.tenant_id, member.program_id), group
        )
        command = translate.assign_command(profile_id, chosen, body)
        tiers.assign(uow, container.clock, tenant_id=principal.tenant_id, command=command)
        view = _view(uow, container.clock, principal.tenant_id, profile_id, group)
        record = _record(uow, principal.tenant_id, view, allocate=True)
        uow.commit()
    return _respond(container, principal.tenant_id, view, record)


@router.post("/profile/tiers/calculate/batch.json", status_code=201)
def calculate_batch(
    body: translate.BatchIn, principal: Writer, container: ContainerDep
) -> Response:
    """Recalculate up to 1,000 profiles; unknown profile ids are skipped."""
    with container.uow_factory() as uow:
        dialects.recalculate(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            member_ids=translate.batch_profiles(body),
        )
        uow.commit()
    return JsonResponse({"message": translate.QUEUED}, status_code=201)


# -- tier definitions ---------------------------------------------------------------------------


@router.get("/tiers/definitions")
def list_definitions(principal: Reader, container: ContainerDep) -> Response:
    """Every tier definition of the tenant, by program, group and rank."""
    with container.uow_factory(write=False) as uow:
        found = definitions.list_definitions(uow, tenant_id=principal.tenant_id)
    return JsonResponse(translate.definitions(found))


@router.post("/tiers/definitions", status_code=201)
def create_definition(
    body: Annotated[dict[str, Any], Body()],
    principal: Admin,
    container: ContainerDep,
    force: Force = False,
) -> Response:
    """Add a tier (to `group_id`, or the only program's default group), placed by `value_min`."""
    fields, group_id = translate.definition_fields(body)
    with container.uow_factory() as uow:
        found = definitions.create_definition(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            fields=fields,
            group_id=group_id,
            force=force,
        )
        uow.commit()
    return JsonResponse({"data": translate.definition(found)}, status_code=201)


@router.get("/tiers/definitions/{tier_id}")
def get_definition(tier_id: str, principal: Reader, container: ContainerDep) -> Response:
    """One tier definition."""
    with container.uow_factory(write=False) as uow:
        found = definitions.get_definition(
            uow, tenant_id=principal.tenant_id, tier_id=translate.parse_tier_id(tier_id)
        )
    return JsonResponse({"data": translate.definition(found)})


@router.put("/tiers/definitions/{tier_id}")
def update_definition(
    tier_id: str,
    body: Annotated[dict[str, Any], Body()],
    principal: Admin,
    container: ContainerDep,
    force: Force = False,
) -> Response:
    """Change the fields given; members are re-evaluated under the new definition."""
    fields, group_id = translate.definition_fields(body)
    with container.uow_factory() as uow:
        found = definitions.update_definition(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            tier_id=translate.parse_tier_id(tier_id),
            changes=fields,
            force=force,
            group_id=group_id,
        )
        uow.commit()
    return JsonResponse({"data": translate.definition(found)})


@router.delete("/tiers/definitions/{tier_id}", status_code=204)
def delete_definition(
    tier_id: str, principal: Admin, container: ContainerDep, force: Force = False
) -> Response:
    """Remove a tier no member holds (ranks above it may not move unless forced)."""
    with container.uow_factory() as uow:
        definitions.delete_definition(
            uow,
            container.clock,
            tenant_id=principal.tenant_id,
            tier_id=translate.parse_tier_id(tier_id),
            force=force,
        )
        uow.commit()
    return Response(status_code=204)
