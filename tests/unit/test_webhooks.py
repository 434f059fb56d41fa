"""The pure parts of webhook delivery: signatures, the retry schedule, who wants an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tierbook.service import webhooks
from tierbook.service.model import Delivery, OutboxEvent, Webhook
from tierbook.service.webhooks import SendResult

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
BODY = b'{"id":"e1","type":"tier.upgraded"}'
SECRET = "s3cret-s3cret-s3cret"


def event(kind: str = "tier.upgraded", created_at: datetime = NOW) -> OutboxEvent:
    return OutboxEvent(
        id="e1",
        tenant_id="acme",
        type=kind,
        subject_id="m1",
        program_id=1,
        group_id=10,
        occurred_at=created_at,
        payload={},
        created_at=created_at,
    )


def hook(events: frozenset[str] = frozenset(), created_at: datetime = NOW) -> Webhook:
    return Webhook("acme", "wh_1", "https://example.com/h", SECRET, events, created_at)


def test_a_signature_verifies_only_for_its_secret_body_and_time() -> None:
    header = webhooks.signature(SECRET, int(NOW.timestamp()), BODY)
    assert header.startswith(f"t={int(NOW.timestamp())},v1=")
    assert webhooks.verify_signature(SECRET, header, BODY, NOW)
    assert webhooks.verify_signature(SECRET, header, BODY, NOW + timedelta(minutes=4))
    assert not webhooks.verify_signature(SECRET, header, BODY, NOW + timedelta(minutes=6))
    assert not webhooks.verify_signature(SECRET + "x", header, BODY, NOW)
    assert not webhooks.verify_signature(SECRET, header, BODY[:-1], NOW)
    assert not webhooks.verify_signature(SECRET, "t=soon,v1=00", BODY, NOW)
    assert not webhooks.verify_signature(SECRET, "", BODY, NOW)


@pytest.mark.parametrize(
    ("result", "delivered"),
    [(SendResult(200), True), (SendResult(204), True), (SendResult(299), True)]
    + [(SendResult(s), False) for s in (301, 400, 410, 500, 503)]
    + [(SendResult(None, "ConnectError: refused"), False)],
)
def test_only_a_2xx_delivers(result: SendResult, delivered: bool) -> None:
    after = webhooks.after_attempt(Delivery(event(), hook()), result, NOW)
    assert after.attempts == 1
    assert (after.delivered_at is not None) is delivered
    if not delivered:
        assert after.next_attempt_at == NOW + webhooks.RETRY_AFTER[0]
        assert after.last_error in ("ConnectError: refused", f"HTTP {result.status}")


def test_the_last_attempt_gives_up() -> None:
    delivery = Delivery(event(), hook(), attempts=webhooks.MAX_ATTEMPTS - 2)
    retried = webhooks.after_attempt(delivery, SendResult(500), NOW)
    assert retried.next_attempt_at == NOW + webhooks.RETRY_AFTER[-1]
    given_up = webhooks.after_attempt(retried, SendResult(500), NOW)
    assert (given_up.failed_at, given_up.next_attempt_at) == (NOW, None)
    assert given_up.attempts == webhooks.MAX_ATTEMPTS


def test_a_webhook_wants_its_types_from_its_registration_on() -> None:
    assert hook().wants(event("tier.downgraded"))
    assert hook(frozenset({"tier.upgraded"})).wants(event("tier.upgraded"))
    assert not hook(frozenset({"tier.upgraded"})).wants(event("tier.downgraded"))
    assert not hook(created_at=NOW + timedelta(seconds=1)).wants(event())
