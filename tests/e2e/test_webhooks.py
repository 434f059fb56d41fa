"""Webhooks over HTTP: registered with the native API, delivered signed to a real endpoint,
retried on failure, filtered by type and tenant, disabled; bad registrations refused."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.receiver import Receiver
from tierbook.adapters.webhooks import HttpSender
from tierbook.api.native import schemas as s
from tierbook.bootstrap import Container
from tierbook.service import webhooks
from tierbook.service.clocks import FixedClock


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def sender() -> Iterator[HttpSender]:
    with HttpSender(timeout_s=5) as client:
        yield client


def later(clock: FixedClock, by: timedelta) -> None:
    clock.set(clock.now() + by)


def register(api: Api, url: str, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": url, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def upgrade(api: Api, clock: FixedClock) -> str:
    """Enrol a member (tier.achieved) and record enough for Silver (tier.upgraded)."""
    api.put_program()
    member_id = str(api.enrol()["id"])
    later(clock, timedelta(days=1))
    api.record(member_id=member_id, occurred_at=clock.now().isoformat(), points=1000)
    return member_id


def deliver(container: Container, clock: FixedClock, sender: HttpSender) -> webhooks.DeliveryReport:
    return webhooks.deliver_due(container.uow_factory, clock, sender)


def test_each_event_is_delivered_once_and_signed(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver, sender: HttpSender
) -> None:
    hook = register(api, receiver.url)
    assert hook["id"].startswith("wh_")
    assert len(hook["secret"]) >= 32
    member_id = upgrade(api, clock)

    report = deliver(container, clock, sender)
    assert (report.delivered, report.retrying, report.failed) == (2, 0, 0)
    assert [e["type"] for e in receiver.events()] == ["tier.achieved", "tier.upgraded"]
    upgraded = receiver.events()[1]
    assert upgraded["data"]["subject_id"] == member_id
    assert upgraded["data"]["to_tier_id"] == 2
    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        assert headers["tierbook-event-id"] == json.loads(body)["id"]
        assert webhooks.verify_signature(
            hook["secret"], headers["tierbook-signature"], body, clock.now()
        )
        assert not webhooks.verify_signature(
            hook["secret"], headers["tierbook-signature"], body + b" ", clock.now()
        )
        assert not webhooks.verify_signature(
            "another secret entirely", headers["tierbook-signature"], body, clock.now()
        )
    # Delivered is delivered: nothing is sent again.
    assert deliver(container, clock, sender).delivered == 0
    assert len(receiver.received) == 2
    page = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    s.DeliveriesOut.model_validate(page)
    listed = page["deliveries"]
    assert [(d["status"], d["attempts"], d["last_status"]) for d in listed] == [
        ("delivered", 1, 200),
        ("delivered", 1, 200),
    ]


def test_a_change_a_late_entry_moved_is_retracted_before_its_replacement(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver, sender: HttpSender
) -> None:
    """A purchase dated before an upgrade the member already had moves that upgrade earlier:
    subscribers hear that the first one no longer holds, then of the one that does."""
    register(api, receiver.url)
    enrolled_at = clock.now()
    member_id = upgrade(api, clock)
    first = deliver(container, clock, sender)
    assert first.delivered == 2
    later(clock, timedelta(days=1))
    late = (enrolled_at + timedelta(hours=2)).isoformat()
    api.record(member_id=member_id, occurred_at=late, points=1000, idempotency_key="late")
    assert deliver(container, clock, sender).delivered == 2
    events = receiver.events()
    assert [e["type"] for e in events] == [
        "tier.achieved",
        "tier.upgraded",
        "tier.retracted",
        "tier.upgraded",
    ]
    upgraded, retracted, replacement = (e["data"] for e in events[1:])
    assert retracted["retracts"] == "tier.upgraded"
    assert {k: v for k, v in retracted.items() if k != "retracts"} == upgraded
    assert replacement["at"] < upgraded["at"]
    assert replacement["to_tier_id"] == upgraded["to_tier_id"]
    # A live entry (after everything stored) retracts nothing.
    later(clock, timedelta(days=1))
    api.record(member_id=member_id, occurred_at=clock.now().isoformat(), points=10)
    assert deliver(container, clock, sender).delivered == 0


def test_a_webhook_may_ask_for_retractions_alone(api: Api) -> None:
    hook = register(api, "http://127.0.0.1:9/hook", events=["tier.retracted"])
    assert hook["events"] == ["tier.retracted"]


def test_deliverers_side_by_side_send_each_delivery_once(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver, sender: HttpSender
) -> None:
    """A second deliverer that runs while the first is sending finds nothing of what the first
    claimed; a claim whose deliverer never came back is taken again once its lease ends."""
    register(api, receiver.url)
    upgrade(api, clock)
    upgrade(api, clock)  # four events in all
    beside: list[webhooks.DeliveryReport] = []

    class Interrupted:
        """Starts another deliverer during its first POST."""

        def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> webhooks.SendResult:
            if not beside:
                beside.append(deliver(container, clock, sender))
            return sender.post(url, body, headers)

    report = webhooks.deliver_due(container.uow_factory, clock, Interrupted())
    assert (report.delivered, beside[0].sent) == (4, 0)
    assert len(receiver.received) == 4
    assert len({e["id"] for e in receiver.events()}) == 4
    # A deliverer that claims and then stops (it never records an attempt).
    upgrade(api, clock)
    with container.uow_factory() as uow:
        webhooks.dispatch(uow, clock.now())
        now = clock.now()
        claimed = uow.webhooks.claim_due(now, 10, now + webhooks.LEASE)
        uow.commit()
    assert len(claimed) == 2
    assert deliver(container, clock, sender).sent == 0
    later(clock, webhooks.LEASE)
    assert deliver(container, clock, sender).delivered == 2
    assert len(receiver.received) == 6


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_claim_in_progress_is_skipped_not_waited_for(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver
) -> None:
    """On PostgreSQL claims run at once in several transactions: each skips the deliveries
    another one holds (SQLite's claims take turns at its one write lock)."""
    register(api, receiver.url)
    upgrade(api, clock)
    with container.uow_factory() as uow:
        webhooks.dispatch(uow, clock.now())
        uow.commit()
    now = clock.now()
    with container.uow_factory() as first, container.uow_factory() as second:
        assert len(first.webhooks.claim_due(now, 1, now + webhooks.LEASE)) == 1
        assert len(second.webhooks.claim_due(now, 10, now + webhooks.LEASE)) == 1
        first.commit()
        second.commit()
    with container.uow_factory() as third:
        assert third.webhooks.claim_due(now, 10, now + webhooks.LEASE) == []


def test_a_failing_endpoint_is_retried_on_schedule_then_given_up(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver, sender: HttpSender
) -> None:
    hook = register(api, receiver.url, events=["tier.upgraded"])
    upgrade(api, clock)
    receiver.status = 503
    assert deliver(container, clock, sender).retrying == 1
    for attempt, wait in enumerate(webhooks.RETRY_AFTER, start=2):
        later(clock, wait - timedelta(seconds=1))
        assert (
            deliver(container, clock, sender).retrying + deliver(container, clock, sender).failed
            == 0
        ), "not due before its time"
        later(clock, timedelta(seconds=1))
        report = deliver(container, clock, sender)
        if attempt < webhooks.MAX_ATTEMPTS:
            assert report.retrying == 1
        else:
            assert report.failed == 1
        assert receiver.received[-1][0]["tierbook-delivery-attempt"] == str(attempt)
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS
    (delivery,) = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert delivery["status"] == "failed"
    assert (delivery["attempts"], delivery["last_status"]) == (webhooks.MAX_ATTEMPTS, 503)
    later(clock, timedelta(days=30))
    assert deliver(container, clock, sender).failed == 0


def test_a_recovered_endpoint_gets_the_retry(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver, sender: HttpSender
) -> None:
    register(api, receiver.url, events=["tier.upgraded"])
    upgrade(api, clock)
    receiver.status = 500
    assert deliver(container, clock, sender).retrying == 1
    receiver.status = 204
    later(clock, webhooks.RETRY_AFTER[0])
    assert deliver(container, clock, sender).delivered == 1
    first, second = receiver.received
    assert first[1] == second[1], "a retry sends the same event"


def test_an_unreachable_endpoint_is_retried_with_the_reason(
    api: Api, container: Container, clock: FixedClock, sender: HttpSender
) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more
    hook = register(api, url)
    upgrade(api, clock)
    assert deliver(container, clock, sender).retrying == 2
    deliveries = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert all(d["last_status"] is None and "Connect" in d["last_error"] for d in deliveries)


def test_only_wanted_events_of_the_tenant_since_registration_are_sent(
    api: Api,
    make_api: Any,
    container: Container,
    clock: FixedClock,
    receiver: Receiver,
    sender: HttpSender,
) -> None:
    other = Receiver()
    try:
        register(make_api("globex"), other.url)  # another tenant's webhook
        register(api, receiver.url, events=["tier.upgraded"])
        upgrade(api, clock)
        later(clock, timedelta(seconds=1))
        late = Receiver()
        try:
            register(api, late.url)  # registered after the events: not sent the past
            assert deliver(container, clock, sender).delivered == 1
            assert late.received == []
            assert other.received == []
        finally:
            late.close()
    finally:
        other.close()
    assert [e["type"] for e in receiver.events()] == ["tier.upgraded"]


def test_a_disabled_webhook_gets_nothing_more(
    api: Api, container: Container, clock: FixedClock, receiver: Receiver, sender: HttpSender
) -> None:
    hook = register(api, receiver.url)
    receiver.status = 500
    upgrade(api, clock)
    assert deliver(container, clock, sender).retrying == 2
    assert api.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert api.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    later(clock, timedelta(days=1))
    assert deliver(container, clock, sender).retrying == 0
    assert len(receiver.received) == 2
    (listed,) = api.get("/v1/webhooks").json()["webhooks"]
    assert listed["disabled_at"] is not None
    assert "secret" not in listed
    deliveries = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert {(d["status"], d["last_error"]) for d in deliveries} == {("failed", "webhook disabled")}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://exa mple.com/hook"}, "url"),
        ({"url": "https://example.com:99999/hook"}, "url"),
        ({"url": "https://[::1/hook"}, "url"),
        ({"url": "https://example.com/" + "x" * 2100}, "url"),
        ({"url": "https://example.com/hook", "events": ["tier.exploded"]}, "events"),
        ({"url": "https://example.com/hook", "secret": "short"}, "secret"),
        ({"url": "https://example.com/hook", "colour": "blue"}, "colour"),
    ],
)
def test_a_bad_registration_is_refused_and_writes_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json()["error"])
    assert api.get("/v1/webhooks").json() == {"webhooks": []}


def test_webhooks_need_an_admin_key_and_stay_in_their_tenant(
    api: Api, make_api: Any, receiver: Receiver
) -> None:
    reader = make_api(scopes="read,write")
    assert reader.post("/v1/webhooks", json={"url": receiver.url}).status_code == 403
    assert reader.get("/v1/webhooks").status_code == 403
    hook = register(api, receiver.url)
    stranger = make_api("globex")
    assert stranger.get("/v1/webhooks").json() == {"webhooks": []}
    for response in (
        stranger.delete(f"/v1/webhooks/{hook['id']}"),
        stranger.get(f"/v1/webhooks/{hook['id']}/deliveries"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "unknown_webhook"
