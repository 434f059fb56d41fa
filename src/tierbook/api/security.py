"""Reading credentials off requests and verifying them, with a short-lived cache.

Verified keys are cached for `key_cache_seconds` so hot reads do not pay a database round trip
and a hash per request; a revoked key therefore stops working within that many seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time

from starlette.requests import Request

from tierbook.domain.errors import Unauthenticated
from tierbook.service.auth import Principal, authenticate_pair, split_token
from tierbook.service.ports import UnitOfWorkFactory

# Every key id tierbook issues looks like this; anything else is refused before the database
# sees it (where text such as a NUL would fail the query instead of the key).
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def bearer_token(request: Request) -> str | None:
    return bearer_of(request.headers.get("authorization", ""))


def bearer_of(header: str) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header's value; None for any other."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def basic_pair(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    key_id, colon, secret = decoded.partition(":")
    if not colon:
        raise Unauthenticated("malformed Basic credentials")
    return key_id, secret


class KeyVerifier:
    def __init__(self, uow_factory: UnitOfWorkFactory, ttl_seconds: float) -> None:
        self._uow_factory = uow_factory
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, str], tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def verify_token(self, token: str) -> Principal:
        return self.verify_pair(*split_token(token))

    def cached_token(self, token: str) -> Principal | None:
        """The token's principal if it was verified within the cache's time; None otherwise
        (including for a token that would fail: `verify_token` says why). Reads no database."""
        key_id, dot, secret = token.strip().partition(".")
        if not dot:
            return None
        cached = self._cache.get((key_id, _digest(secret)))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def verify_pair(self, key_id: str, secret: str) -> Principal:
        if not KEY_ID.match(key_id):
            raise Unauthenticated("unknown or revoked API key")
        cache_key = (key_id, _digest(secret))
        now = time.monotonic()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self._uow_factory(write=False) as uow:
            principal = authenticate_pair(uow, key_id, secret)
        if self._ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[cache_key] = (principal, now + self._ttl)
        return principal


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
