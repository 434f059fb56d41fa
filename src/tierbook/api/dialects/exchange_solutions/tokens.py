"""Exchange Solutions bearer tokens: JWTs (HS256) standing for an API key, with an expiry.

A token names the key it was issued for (`sub`), its tenant (`tid`) and scopes; it is signed
with `Settings.token_secret`, or with a secret tierbook made once and keeps in the database.
The HMAC key is the SHA-256 of that secret, so any secret gives a full-length key. Expiry is
checked against the server's clock, not the wall clock, so `as_of` clocks and tests agree.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from tierbook.domain.errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "tierbook"
AUDIENCE = "exchange-solutions"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    key_id: str
    tenant_id: str
    scopes: frozenset[str]
    expires_at: datetime


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def issue(
    secret: str,
    *,
    key_id: str,
    tenant_id: str,
    scopes: frozenset[str],
    now: datetime,
    ttl: timedelta,
) -> tuple[str, datetime]:
    expires_at = now + ttl
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": key_id,
        "tid": tenant_id,
        "scope": " ".join(sorted(scopes)),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, _key(secret), algorithm=ALGORITHM), expires_at


def verify(secret: str, token: str, *, now: datetime) -> TokenClaims:
    """The claims of a token this server signed and that has not expired."""
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp", "iat", "sub", "tid"]},
        )
    except jwt.PyJWTError:
        raise Unauthenticated("invalid access token") from None
    expires = claims["exp"]
    if not isinstance(expires, int) or now.timestamp() >= expires:
        raise Unauthenticated("the access token has expired: get a new one at /oauth/token")
    scope = claims.get("scope", "")
    if not isinstance(claims["sub"], str) or not isinstance(claims["tid"], str):
        raise Unauthenticated("invalid access token")
    return TokenClaims(
        key_id=claims["sub"],
        tenant_id=claims["tid"],
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo),
    )
