"""The hot reads (`GET /v1/members/{id}/tiers`, Omneo's profile tier) stay right while they are
fast: a changed program is read as changed, and keys are cached per key and tenant."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tierbook.api.security import KeyVerifier
from tierbook.bootstrap import Container
from tierbook.domain.errors import Unauthenticated

from .conftest import PROGRAM, Api, new_key


def renamed(name: str) -> dict[str, Any]:
    """SPEC §3's program with its floor tier renamed."""
    document = copy.deepcopy(PROGRAM)
    document["groups"][0]["tiers"][0]["name"] = name
    return document


def test_a_changed_program_is_read_as_changed(api: Api, member: dict[str, Any]) -> None:
    profile = f"/api/v3/profiles/{member['id']}/tiers"
    assert api.state(member["id"])["tier"]["name"] == "Bronze"
    assert api.get(profile).json()["data"]["current_tier"]["name"] == "Bronze"
    api.put_program(renamed("Brass"))
    assert api.state(member["id"])["tier"]["name"] == "Brass"
    assert api.get(profile).json()["data"]["current_tier"]["name"] == "Brass"
    api.put_program(renamed("Bronze"))
    assert api.state(member["id"])["tier"]["name"] == "Bronze"


def test_a_program_is_read_in_its_own_tenant(
    make_api: Callable[..., Api], api: Api, member: dict[str, Any]
) -> None:
    other = make_api("globex")
    other.put_program(renamed("Copper"))
    theirs = other.enrol(id=member["id"])
    assert other.state(theirs["id"])["tier"]["name"] == "Copper"
    assert api.state(member["id"])["tier"]["name"] == "Bronze"
    profile = other.get(f"/api/v3/profiles/{theirs['id']}/tiers").json()["data"]
    assert profile["current_tier"]["name"] == "Copper"


def test_a_read_key_reads_both_hot_paths_again_and_again(
    make_api: Callable[..., Api], member: dict[str, Any]
) -> None:
    reader = make_api(scopes="read")
    for _ in range(3):  # the first verifies the key, the others find it in the cache
        assert reader.get(f"/v1/members/{member['id']}/tiers").status_code == 200
        assert reader.get(f"/api/v3/profiles/{member['id']}/tiers").status_code == 200
    wrong = Api(reader.client, reader.token and reader.token + "x")
    assert wrong.get(f"/v1/members/{member['id']}/tiers").status_code == 401


# -- the key cache ---------------------------------------------------------------------------------


def test_the_cache_holds_only_keys_it_verified(container: Container) -> None:
    token = new_key(container, "acme", "read")
    verifier = KeyVerifier(container.uow_factory, ttl_seconds=60)
    assert verifier.cached_token(token) is None
    principal = verifier.verify_token(token)
    assert (principal.tenant_id, principal.scopes) == ("acme", frozenset({"read"}))
    assert verifier.cached_token(token) == principal
    assert verifier.cached_token(f" {token} ") == principal
    key_id, _, secret = token.partition(".")
    assert verifier.cached_token(f"{key_id}.{secret}x") is None
    assert verifier.cached_token(key_id) is None
    with pytest.raises(Unauthenticated):
        verifier.verify_token(f"{key_id}.{secret}x")
    assert verifier.cached_token(f"{key_id}.{secret}x") is None


def test_without_a_cache_time_nothing_is_cached(container: Container) -> None:
    token = new_key(container, "acme", "read")
    verifier = KeyVerifier(container.uow_factory, ttl_seconds=0)
    verifier.verify_token(token)
    assert verifier.cached_token(token) is None
