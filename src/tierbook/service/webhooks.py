"""Webhooks: tier events delivered to the endpoints a tenant registers, signed, with retries.

Every tier change is written to the outbox in the transaction that made it. Delivery runs
apart from requests (`tierbook deliver`, or the thread `tierbook serve` runs beside the API), in
two steps:

- `dispatch` hands outbox events to delivery: one pending delivery per event and webhook that
  wants it (its event types; registered before the event), and marks the event handed over.
- `deliver_due` sends the deliveries that are due, outside any transaction, and stores each
  outcome: a 2xx delivers; anything else (another status, a timeout, a refused connection) is
  tried again after `RETRY_AFTER[attempts - 1]`, and given up after `MAX_ATTEMPTS`.

Deliverers may run side by side (every server, any `tierbook deliver`): each claims a few due
deliveries at a time in a short transaction, which makes them due again only after `LEASE`, and
sends those alone; the outcome of an attempt replaces the lease. Delivery is at least once (a
deliverer that stops mid-send leaves its claims to expire): a receiver deduplicates by the
event's `id` (the `Tierbook-Event-Id` header). Each request is signed:
`Tierbook-Signature: t=UNIX_SECONDS,v1=HEX`, where HEX is HMAC-SHA256 with the webhook's secret
over `"{t}.{body}"`; `verify_signature` checks one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import orjson

from tierbook.domain.errors import InvalidInput, UnknownWebhook
from tierbook.service.model import Delivery, OutboxEvent, Webhook
from tierbook.service.ports import Clock, UnitOfWork, UnitOfWorkFactory
from tierbook.service.subjects import EVENT_TYPES, RETRACTED

EVENT_NAMES = frozenset(EVENT_TYPES.values()) | {RETRACTED}
RETRY_AFTER = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
"""The wait after each failed attempt; the attempt after the last wait is the last one."""
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
CLAIM = 10
"""Deliveries a deliverer claims at once."""
INTERVAL_S = 5.0
"""Seconds a deliverer waits after a round that found nothing to send (by default)."""
LEASE = timedelta(minutes=5)
"""How long a claim keeps other deliverers off: longer than `CLAIM` attempts take, each at most
the sender's timeout."""
MAX_URL = 2048
SIGNATURE_TOLERANCE = timedelta(minutes=5)


class Sender(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST `body`; never raises for a failed delivery, reports it."""
        ...


@dataclass(frozen=True, slots=True)
class SendResult:
    status: int | None
    """The HTTP status, or None when no response came (the error says why)."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class DeliveryReport:
    dispatched: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def sent(self) -> int:
        """Deliveries attempted, whatever came of them."""
        return self.delivered + self.retrying + self.failed


class Stop(Protocol):
    """When to stop (a `threading.Event`)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


# -- registering ---------------------------------------------------------------------------------


def register(
    uow: UnitOfWork,
    clock: Clock,
    *,
    tenant_id: str,
    url: str,
    events: Iterable[str] = (),
    secret: str | None = None,
) -> Webhook:
    """A new webhook; with no `secret` given, one is made (the caller shows it once)."""
    _check_url(url)
    wanted = frozenset(events)
    unknown = sorted(wanted - EVENT_NAMES)
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r} (known: {', '.join(sorted(EVENT_NAMES))})",
            field="events",
        )
    if secret is not None and len(secret) < 16:
        raise InvalidInput("a webhook secret has at least 16 characters", field="secret")
    webhook = Webhook(
        tenant_id=tenant_id,
        id="wh_" + secrets.token_hex(8),
        url=url,
        secret=secret or secrets.token_urlsafe(32),
        events=wanted,
        created_at=clock.now(),
    )
    uow.webhooks.add(webhook)
    return webhook


def _check_url(url: str) -> None:
    if len(url) > MAX_URL:
        raise InvalidInput(f"url is longer than {MAX_URL} characters", field="url")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInput("url may not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # reading it checks it (a port beyond 65535 is a ValueError)
    except ValueError:
        raise InvalidInput("url is not a URL", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http:// or https:// URL", field="url")


def get(uow: UnitOfWork, *, tenant_id: str, webhook_id: str) -> Webhook:
    webhook = uow.webhooks.get(tenant_id, webhook_id)
    if webhook is None:
        raise UnknownWebhook(f"no webhook {webhook_id!r}")
    return webhook


def disable(uow: UnitOfWork, clock: Clock, *, tenant_id: str, webhook_id: str) -> None:
    """Stop delivering to the webhook; its pending deliveries end as failed."""
    if not uow.webhooks.disable(tenant_id, webhook_id, clock.now()):
        get(uow, tenant_id=tenant_id, webhook_id=webhook_id)  # unknown: 404
        # Already disabled: nothing more to do.


# -- delivering ----------------------------------------------------------------------------------


def dispatch(uow: UnitOfWork, now: datetime, *, limit: int = 500) -> int:
    """Hand up to `limit` outbox events to delivery; returns how many were handed over."""
    events = uow.outbox.pending(limit)
    if not events:
        return 0
    hooks: dict[str, list[Webhook]] = {}
    for webhook in uow.webhooks.active_for({e.tenant_id for e in events}):
        hooks.setdefault(webhook.tenant_id, []).append(webhook)
    pairs = [(e, w) for e in events for w in hooks.get(e.tenant_id, ()) if w.wants(e)]
    uow.webhooks.add_deliveries(pairs, now)
    uow.outbox.mark_delivered([e.id for e in events], now)
    return len(events)


def deliver_due(
    uow_factory: UnitOfWorkFactory, clock: Clock, sender: Sender, *, limit: int = 100
) -> DeliveryReport:
    """Hand over every pending event, then send up to `limit` deliveries that are due."""
    report = DeliveryReport()
    while True:
        with uow_factory() as uow:
            handed = dispatch(uow, clock.now())
            uow.commit()
        report.dispatched += handed
        if not handed:
            break
    sent = 0
    while sent < limit:
        with uow_factory() as uow:
            now = clock.now()
            claimed = uow.webhooks.claim_due(now, min(CLAIM, limit - sent), now + LEASE)
            uow.commit()
        if not claimed:
            break
        for delivery in claimed:
            _attempt(uow_factory, clock, sender, delivery, report)
        sent += len(claimed)
    return report


def _attempt(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    sender: Sender,
    delivery: Delivery,
    report: DeliveryReport,
) -> None:
    """Send one claimed delivery, outside any transaction, and store its outcome."""
    body = event_body(delivery.event)
    result = sender.post(delivery.webhook.url, body, headers(delivery, body, clock.now()))
    outcome = after_attempt(delivery, result, clock.now())
    with uow_factory() as uow:
        uow.webhooks.record_attempt(outcome)
        uow.commit()
    if outcome.delivered_at is not None:
        report.delivered += 1
    elif outcome.failed_at is not None:
        report.failed += 1
    else:
        report.retrying += 1


def deliver_until(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    sender: Sender,
    stop: Stop,
    *,
    interval_s: float,
    rounds: Callable[[DeliveryReport], None] | None = None,
) -> None:
    """`deliver_due` round after round until `stop` is set: the next round at once after one
    that sent something, `interval_s` after one with nothing to send. `rounds` hears of each."""
    while not stop.is_set():
        report = deliver_due(uow_factory, clock, sender)
        if rounds is not None:
            rounds(report)
        if not report.sent:
            stop.wait(interval_s)


def after_attempt(delivery: Delivery, result: SendResult, at: datetime) -> Delivery:
    """The delivery after one attempt with `result`."""
    attempts = delivery.attempts + 1
    if result.ok:
        return replace(
            delivery,
            attempts=attempts,
            next_attempt_at=None,
            delivered_at=at,
            last_status=result.status,
            last_error=None,
        )
    error = result.error or f"HTTP {result.status}"
    if attempts >= MAX_ATTEMPTS:
        return replace(
            delivery,
            attempts=attempts,
            next_attempt_at=None,
            failed_at=at,
            last_status=result.status,
            last_error=error[:500],
        )
    return replace(
        delivery,
        attempts=attempts,
        next_attempt_at=at + RETRY_AFTER[attempts - 1],
        last_status=result.status,
        last_error=error[:500],
    )


def event_body(event: OutboxEvent) -> bytes:
    """What a webhook receives: the event's id, type and creation time, and its data."""
    assert event.created_at is not None, "a stored event has its creation time"
    return orjson.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created_at": _instant(event.created_at),
            "data": dict(event.payload),
        }
    )


def headers(delivery: Delivery, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": "tierbook-webhooks",
        "Tierbook-Event-Id": delivery.event.id,
        "Tierbook-Event-Type": delivery.event.type,
        "Tierbook-Delivery-Attempt": str(delivery.attempts + 1),
        "Tierbook-Signature": signature(delivery.webhook.secret, timestamp, body),
    }


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=TIMESTAMP,v1=HEX`: HMAC-SHA256 with `secret` over `"{timestamp}." + body`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: datetime) -> bool:
    """Whether `header` signs `body` with `secret`, made within `SIGNATURE_TOLERANCE` of `now`
    (what a receiver runs; tierbook's tests run it too)."""
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now.timestamp() - timestamp) > SIGNATURE_TOLERANCE.total_seconds():
        return False
    expected = signature(secret, timestamp, body).partition(",v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
