"""Recording activity: idempotency, late entries, batches all or nothing, refunds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import Api, at, rfc3339
from tierbook.service.clocks import FixedClock

AS_OF = ["2025-03-01 10:00", "2025-05-01 10:00", "2025-09-01 10:00", "2026-05-02 00:00"]


def without_subject(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "subject_id"}


def test_one_entry_comes_back_with_its_fields(
    api: Api, member: dict[str, Any], clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 12:00"))
    response = api.post(
        "/v1/activities",
        json={
            "member_id": member["id"],
            "occurred_at": "2025-02-01T21:30:00+11:00",
            "idempotency_key": "T-1",
            "points": "120.5",
            "spend": 99.95,
            "business_unit": "online",
            "behaviour_type": "purchase",
            "items": [{"sku": "A1", "category": "shoes", "quantity": 2, "amount": "99.95"}],
            "meta": {"channel": "app", "basket": {"size": 2}},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    entry = body["entry"]
    assert body["created"] is True
    assert entry["occurred_at"] == "2025-02-01T10:30:00Z"  # read in UTC
    assert entry["recorded_at"] == "2025-02-01T12:00:00Z"
    assert (entry["points"], entry["spend"], entry["units"]) == (120.5, 99.95, 0)
    assert entry["items"] == [{"sku": "A1", "category": "shoes", "quantity": 2, "amount": 99.95}]
    assert entry["meta"] == {"channel": "app", "basket": {"size": 2}}
    assert (entry["kind"], entry["idempotency_key"]) == ("purchase", "T-1")


def test_amounts_are_exact_decimals_on_the_wire(api: Api, member: dict[str, Any]) -> None:
    response = api.post(
        "/v1/activities",
        json={"member_id": member["id"], "points": "0.1", "spend": "12345678901.2345"},
    )
    assert response.status_code == 201, response.text
    assert b'"points":0.1,' in response.content
    assert b'"spend":12345678901.2345,' in response.content


def test_the_same_idempotency_key_twice_writes_one_entry(
    api: Api, member: dict[str, Any], clock: FixedClock
) -> None:
    clock.set(at("2025-02-01 00:00"))
    entry = {"member_id": member["id"], "idempotency_key": "TX-42", "points": 1200}
    first = api.post("/v1/activities", json=entry)
    again = api.post("/v1/activities", json=entry)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["entry"]["id"] == first.json()["entry"]["id"]
    assert again.json()["created"] is False
    # The replay reports the upgrade the first call caused, and the points count once.
    assert [c["to"]["handle"] for c in again.json()["changes"]] == ["silver"]
    assert api.state(member["id"])["window"]["value"] == 1200


@pytest.mark.usefixtures("program")
def test_late_entries_give_the_same_state_as_entries_in_order(api: Api, clock: FixedClock) -> None:
    in_order = api.enrol(enrolled_at=rfc3339("2025-01-01 00:00"))["id"]
    late = api.enrol(enrolled_at=rfc3339("2025-01-01 00:00"))["id"]
    purchases = [("2025-03-01 10:00", 600), ("2025-05-01 10:00", 600), ("2025-09-01 10:00", 500)]
    for when, points in purchases:
        clock.set(at(when))
        api.record(member_id=in_order, occurred_at=rfc3339(when), points=points)
    for when, points in reversed(purchases):  # all posted after the last one happened
        api.record(member_id=late, occurred_at=rfc3339(when), points=points)
    for as_of in [None, *(rfc3339(when) for when in AS_OF)]:
        assert without_subject(api.state(late, as_of)) == without_subject(
            api.state(in_order, as_of)
        )


def test_a_late_entry_reports_the_upgrade_at_its_own_instant(
    api: Api, member: dict[str, Any], clock: FixedClock
) -> None:
    clock.set(at("2025-06-01 00:00"))
    api.record(member_id=member["id"], occurred_at=rfc3339("2025-05-01 00:00"), points=600)
    late = api.record(member_id=member["id"], occurred_at=rfc3339("2025-03-01 00:00"), points=600)
    (change,) = late["changes"]
    assert (change["to"]["handle"], change["at"]) == ("silver", rfc3339("2025-05-01 00:00"))


def test_a_batch_is_written_whole_with_every_change(api: Api, member: dict[str, Any]) -> None:
    entries = [
        {"member_id": member["id"], "idempotency_key": f"B-{i}", "points": 500} for i in range(6)
    ]
    response = api.post("/v1/activities:batch", json={"entries": entries})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["created"], body["replayed"]) == (6, 0)
    assert [r["idempotency_key"] for r in body["results"]] == [f"B-{i}" for i in range(6)]
    assert [c["to"]["handle"] for c in body["changes"]] == ["gold"]
    assert api.state(member["id"])["window"]["value"] == 3000


def test_a_batch_with_one_bad_entry_writes_nothing(api: Api, member: dict[str, Any]) -> None:
    entries = [{"member_id": member["id"], "points": 500} for _ in range(4)]
    entries[2] = {"member_id": member["id"], "points": "12.34567"}
    response = api.post("/v1/activities:batch", json={"entries": entries})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "entries[2].points"
    assert api.state(member["id"])["window"]["value"] == 0


def test_a_batch_naming_an_unknown_member_names_the_entry(api: Api, member: dict[str, Any]) -> None:
    entries = [
        {"member_id": member["id"], "points": 500},
        {"member_id": "nobody", "points": 500},
    ]
    response = api.post("/v1/activities:batch", json={"entries": entries})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"] == {"field": "entries[1].member_id"}
    assert "entries[1]" in error["message"]
    assert api.state(member["id"])["window"]["value"] == 0


def test_a_batch_repeated_writes_nothing_twice(api: Api, member: dict[str, Any]) -> None:
    entries = [
        {"member_id": member["id"], "idempotency_key": f"R-{i}", "points": 100} for i in range(3)
    ]
    first = api.post("/v1/activities:batch", json={"entries": entries[:2]})
    again = api.post("/v1/activities:batch", json={"entries": entries})
    assert (first.status_code, again.status_code) == (201, 201)
    assert [r["created"] for r in again.json()["results"]] == [False, False, True]
    assert [r["id"] for r in again.json()["results"][:2]] == [
        r["id"] for r in first.json()["results"]
    ]
    replay = api.post("/v1/activities:batch", json={"entries": entries})
    assert replay.status_code == 200
    assert (replay.json()["created"], replay.json()["replayed"]) == (0, 3)
    assert api.state(member["id"])["window"]["value"] == 300


def test_a_key_repeated_inside_one_batch_is_one_entry(api: Api, member: dict[str, Any]) -> None:
    entry = {"member_id": member["id"], "idempotency_key": "DUP", "points": 100}
    response = api.post("/v1/activities:batch", json={"entries": [entry, entry]})
    assert response.status_code == 201, response.text
    ids = [r["id"] for r in response.json()["results"]]
    assert ids[0] == ids[1]
    assert api.state(member["id"])["window"]["value"] == 100


def test_a_refund_reverses_by_idempotency_key(api: Api, member: dict[str, Any]) -> None:
    api.record(member_id=member["id"], idempotency_key="P-1", points=600)
    refund = api.record(
        member_id=member["id"], kind="refund", points=-600, reverses="P-1", idempotency_key="R-1"
    )
    purchase_id = api.record(member_id=member["id"], idempotency_key="P-1")["entry"]["id"]
    assert refund["entry"]["reverses"] == purchase_id
    assert refund["entry"]["points"] == -600
    assert api.state(member["id"])["window"]["value"] == 0


def test_occurred_at_defaults_to_now(api: Api, member: dict[str, Any], clock: FixedClock) -> None:
    clock.set(at("2025-04-04 04:04"))
    entry = api.record(member_id=member["id"], points=1)["entry"]
    assert entry["occurred_at"] == rfc3339("2025-04-04 04:04")


@pytest.mark.usefixtures("program")
def test_single_requests_sent_at_once_each_get_their_own_answer(
    api: Api, clock: FixedClock
) -> None:
    # Requests that arrive while another is being recorded share a transaction (the group
    # commit); each still gets the answer it would get alone.
    clock.set(at("2025-02-01 00:00"))
    members = [api.enrol()["id"] for _ in range(6)]
    sent = [
        {"member_id": members[i % 6], "idempotency_key": f"K-{i}", "points": 100 * (i % 7 + 1)}
        for i in range(48)
    ]
    sent[5]["member_id"] = "nobody"
    sent[9]["idempotency_key"] = "K-8"  # a repeat of an entry sent at the same time
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda body: api.post("/v1/activities", json=body), sent))
    assert responses[5].status_code == 422
    error = responses[5].json()["error"]
    assert error["details"] == {"field": "member_id"}  # unprefixed: its own request's error
    assert error["message"].startswith("no member 'nobody'")
    entries = {}
    for body, response in zip(sent, responses, strict=True):
        if body["member_id"] == "nobody":
            continue
        assert response.status_code in (200, 201), response.text
        out = response.json()
        assert out["entry"]["idempotency_key"] == body["idempotency_key"]
        entries.setdefault(out["entry"]["id"], out["entry"])
    assert sorted(r.status_code for r in responses[8:10]) == [200, 201]
    for member_id in members:
        points = sum(e["points"] for e in entries.values() if e["member_id"] == member_id)
        state = api.state(member_id)
        assert state["window"]["value"] == points
        tier = "gold" if points >= 2500 else "silver" if points >= 1000 else "bronze"
        assert state["tier"]["handle"] == tier
