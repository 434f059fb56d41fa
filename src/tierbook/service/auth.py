"""API keys: `ID.SECRET`, where ID is public and only a hash of SECRET is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from tierbook.domain.errors import Forbidden, InvalidInput, Unauthenticated
from tierbook.service.model import ApiKey
from tierbook.service.ports import Clock, UnitOfWork

SCOPES = ("read", "write", "admin")
# Each scope includes the ones before it: a writer can read what it wrote, an admin can do both.
_RANK = {scope: i for i, scope in enumerate(SCOPES)}


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return any(_RANK[s] >= _RANK[scope] for s in self.scopes if s in _RANK)

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise Forbidden(f"this key lacks the {scope!r} scope")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise InvalidInput(
            f"scopes must be some of {', '.join(SCOPES)} (got {text!r})", field="scopes"
        )
    return scopes


def create_key(
    uow: UnitOfWork, clock: Clock, *, tenant_id: str, name: str, scopes: frozenset[str]
) -> tuple[ApiKey, str]:
    """A new key; the returned token `ID.SECRET` is the only time the secret is seen."""
    if not tenant_id.strip() or not name.strip():
        raise InvalidInput("a key needs a tenant and a name", field="tenant")
    key_id = "tb_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id,
        tenant_id=tenant_id,
        name=name,
        scopes=scopes,
        secret_hash=_hash(secret),
        created_at=clock.now(),
    )
    uow.keys.add(key)
    return key, f"{key_id}.{secret}"


def authenticate_pair(uow: UnitOfWork, key_id: str, secret: str) -> Principal:
    key = uow.keys.get(key_id)
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    if not hmac.compare_digest(key.secret_hash, _hash(secret)):
        raise Unauthenticated("wrong API key secret")
    return Principal(tenant_id=key.tenant_id, key_id=key.id, scopes=key.scopes)


def split_token(token: str) -> tuple[str, str]:
    key_id, dot, secret = token.strip().partition(".")
    if not dot or not key_id or not secret:
        raise Unauthenticated("an API key looks like ID.SECRET")
    return key_id, secret


def authenticate(uow: UnitOfWork, token: str) -> Principal:
    return authenticate_pair(uow, *split_token(token))
