"""SessionM Tiers API (`/priv/v1/apps/{api_key}`): tiers, tier systems, one tier.

The `api_key` in the path is a key's public ID; the request proves it holds the key with HTTP
Basic `ID:SECRET` or `Authorization: Bearer ID.SECRET`, whose ID must be the path's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tierbook.api.deps import CheckedRequest, ContainerDep, VerifierDep
from tierbook.api.dialects.sessionm import translate
from tierbook.api.errors import ApiError
from tierbook.api.responses import JsonResponse
from tierbook.api.security import basic_pair, bearer_token
from tierbook.domain.errors import Unauthenticated
from tierbook.service import dialects
from tierbook.service.auth import Principal, split_token

PREFIX = "/priv/v1/apps"

router = APIRouter(prefix=PREFIX + "/{api_key}", tags=["SessionM"], dependencies=[CheckedRequest])


def render(_: Request, error: ApiError) -> Response:
    status, body = translate.error_body(error)
    headers = {"WWW-Authenticate": 'Basic realm="sessionm"'} if status == 401 else None
    return JsonResponse(body, status_code=status, headers=headers)


def app_key(api_key: str, request: Request, verifier: VerifierDep) -> Principal:
    """The path's key, proven by Basic `ID:SECRET` or Bearer `ID.SECRET`; needs `read`."""
    pair = basic_pair(request)
    if pair is None:
        token = bearer_token(request)
        pair = None if token is None else split_token(token)
    if pair is None:
        raise Unauthenticated("send the app's key as Basic api_key:api_secret")
    if pair[0] != api_key:
        raise Unauthenticated("the credentials are not the path's api_key")
    principal = verifier.verify_pair(*pair)
    principal.require("read")
    return principal


AppKey = Annotated[Principal, Depends(app_key)]


@router.get("/tiers")
def tiers(principal: AppKey, container: ContainerDep) -> Response:
    """Every tier of every tier system, by system and rank."""
    with container.uow_factory(write=False) as uow:
        programs = dialects.programs_of(uow, principal.tenant_id)
    return JsonResponse(translate.all_tiers(programs))


@router.get("/tier_systems")
def tier_systems(principal: AppKey, container: ContainerDep) -> Response:
    """Every tier system (tier group), with its reset calendar."""
    with container.uow_factory(write=False) as uow:
        programs = dialects.programs_of(uow, principal.tenant_id)
    return JsonResponse(translate.all_tier_systems(programs, container.clock.now()))


@router.get("/tiers/{tier_id}")
def tier(tier_id: str, principal: AppKey, container: ContainerDep) -> Response:
    """One tier, with its tier system."""
    wanted = translate.parse_tier_id(tier_id)
    with container.uow_factory(write=False) as uow:
        programs = dialects.programs_of(uow, principal.tenant_id)
    return JsonResponse(translate.one_tier(programs, wanted, container.clock.now()))
