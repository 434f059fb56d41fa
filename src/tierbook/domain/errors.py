"""tierbook's one error tree. Every edge (native API, dialects, CLI) maps it to its own envelope.

TierbookError
├── InvalidInput                 the request is malformed or breaks a rule (422)
│   ├── InvalidRules             a program, group or tier definition is inconsistent
│   ├── InvalidEntry             a ledger entry is malformed
│   ├── InvalidAssignment        an assignment is malformed
│   │   └── TierNotAssignable    the tier is not `is_assignable`
│   └── BatchTooLarge            more entries than one batch may hold (413)
├── NotFound                     (404)
│   ├── UnknownProgram
│   ├── UnknownGroup
│   ├── UnknownMember
│   ├── UnknownTier
│   └── UnknownEntry
├── Conflict                     (409)
│   ├── DuplicateMember
│   ├── IdempotencyConflict      a key was reused for a different entry
│   ├── RulesChangeRefused       a rules change would renumber ranks or drop a held tier
│   └── ConcurrentUpdate         another writer won; the caller may retry
├── AuthError
│   ├── Unauthenticated          no key, or a wrong one (401)
│   └── Forbidden                the key lacks the scope (403)
└── Unavailable                  the database cannot be reached; the caller may retry (503)
"""

from __future__ import annotations

from typing import Any


class TierbookError(Exception):
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidInput(TierbookError):
    code = "invalid_input"


class InvalidRules(InvalidInput):
    code = "invalid_rules"


class InvalidEntry(InvalidInput):
    code = "invalid_entry"


class InvalidAssignment(InvalidInput):
    code = "invalid_assignment"


class TierNotAssignable(InvalidAssignment):
    code = "tier_not_assignable"


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"


class NotFound(TierbookError):
    code = "not_found"


class UnknownProgram(NotFound):
    code = "unknown_program"


class UnknownGroup(NotFound):
    code = "unknown_group"


class UnknownMember(NotFound):
    code = "unknown_member"


class UnknownTier(NotFound):
    code = "unknown_tier"


class UnknownEntry(NotFound):
    code = "unknown_entry"


class UnknownWebhook(NotFound):
    code = "unknown_webhook"


class Conflict(TierbookError):
    code = "conflict"


class DuplicateMember(Conflict):
    code = "duplicate_member"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class RulesChangeRefused(Conflict):
    code = "rules_change_refused"


class ConcurrentUpdate(Conflict):
    code = "concurrent_update"


class AuthError(TierbookError):
    code = "auth_error"


class Unauthenticated(AuthError):
    code = "unauthenticated"


class Forbidden(AuthError):
    code = "forbidden"


class Unavailable(TierbookError):
    code = "unavailable"
