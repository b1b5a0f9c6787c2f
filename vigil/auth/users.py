"""User accounts: argon2 password hashes and opaque API tokens.

Tokens are 256 random bits shown once; only their SHA-256 is stored, which is
enough because they are high-entropy (argon2 is for low-entropy passwords).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vigil.audit.roles import Role
from vigil.auth.events import TokenIssued, UserAdded
from vigil.core.clock import Clock
from vigil.core.errors import AuthError, ValidationError
from vigil.core.events import Pending
from vigil.core.ids import new_event_id
from vigil.store.ports import Accounts, EventLog
from vigil.store.records import UserRecord

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TOKEN_PREFIX = "vgl_"  # noqa: S105 - a public marker, not a secret
# Logins the device registry creates and binds to a device or a gateway's scope.
# Nobody else may take these names, whatever the role: a device token must only
# ever belong to a device login (a supervisor could otherwise mint an admin token
# by registering a device whose login name an admin already holds).
DEVICE_LOGIN_PREFIXES = ("device-", "gateway-")


def is_device_login(name: str) -> bool:
    """Return whether a login name is reserved for the device registry."""
    return name.startswith(DEVICE_LOGIN_PREFIXES)


class UserStore(Accounts, EventLog, Protocol):
    """What logins need: accounts, and the log their administration is recorded in."""


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Users:
    """Create users, issue tokens, authenticate requests."""

    # How long a token stays known once checked against the store. Revoking through
    # `revoke_tokens` forgets at once; a revocation or expiry seen only by the store
    # (another process) takes effect within this many seconds.
    RECENT = timedelta(seconds=5)
    RECENT_LIMIT = 10_000  # entries; past it the memory starts again

    def __init__(self, store: UserStore, clock: Clock, *, token_ttl: timedelta) -> None:
        self._store = store
        self._clock = clock
        self._ttl = token_ttl
        self._hasher = PasswordHasher()
        # token hash -> (user, valid until): every request carries a token, and a
        # store query per request was a tenth of a call's CPU.
        self._recent: dict[str, tuple[UserRecord, datetime]] = {}

    def add(
        self,
        name: str,
        role: Role,
        password: str | None,
        *,
        actor: str,
        device_login: bool = False,
    ) -> UserRecord:
        """Create a user; a user without password logs in by token only.

        Names starting ``device-``/``gateway-`` belong to the device registry,
        which passes `device_login`; nobody else may create them.
        """
        if not _NAME.match(name):
            raise ValidationError(
                "user names are 2-64 chars of a-z, 0-9, '.', '_', '-' starting alphanumeric",
                field="name",
            )
        if is_device_login(name) != device_login or (device_login and role is not Role.DEVICE):
            raise ValidationError(
                "names starting 'device-' or 'gateway-' are reserved for the logins the "
                "device registry creates (register a device or a gateway instead)",
                field="name",
            )
        if password is not None and len(password) < 10:
            raise ValidationError("password must have at least 10 characters", field="password")
        now = self._clock.now()
        pw_hash = self._hasher.hash(password) if password else "!"
        user = UserRecord(name=name, role=role.value, password_hash=pw_hash, created_at=now)
        self._store.add_user(
            user,
            Pending(
                id=new_event_id(),
                at=now,
                actor=actor,
                cause=None,
                event=UserAdded(name=name, role=role.value),
            ),
        )
        return user

    def issue_token(self, name: str, *, label: str, actor: str, ttl: timedelta | None) -> str:
        """Issue an API token (shown once); `ttl` None means it never expires."""
        if self._store.user(name) is None:
            raise ValidationError(f"no user named {name!r}", field="name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = None if ttl is None else now + ttl
        self._store.add_token(
            token_hash=hash_token(token), user=name, label=label, created_at=now, expires_at=expires
        )
        self._store.append(
            [
                Pending(
                    id=new_event_id(),
                    at=now,
                    actor=actor,
                    cause=None,
                    event=TokenIssued(name=name, label=label),
                )
            ]
        )
        return token

    def login(self, name: str, password: str) -> str:
        """Check a password and issue a session token."""
        user = self._store.user(name)
        # Verify against a dummy hash for unknown users so timing does not reveal names.
        stored = user.password_hash if user and user.active else _DUMMY_HASH
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            raise AuthError("wrong user name or password") from None
        if user is None or not user.active:
            raise AuthError("wrong user name or password")
        return self.issue_token(name, label="session", actor=name, ttl=self._ttl)

    def recent(self, token: str) -> UserRecord | None:
        """Return the user behind a token checked in the last few seconds, else None."""
        hit = self._recent.get(hash_token(token))
        if hit is None or hit[1] <= self._clock.now():
            return None
        return hit[0]

    def authenticate(self, token: str) -> UserRecord:
        """Return the user behind a bearer token (remembered for a few seconds)."""
        token_hash = hash_token(token)
        now = self._clock.now()
        user = self._store.user_for_token(token_hash, now)
        if user is None:
            self._recent.pop(token_hash, None)
            raise AuthError("invalid or expired token")
        if len(self._recent) >= self.RECENT_LIMIT:
            self._recent.clear()
        self._recent[token_hash] = (user, now + self.RECENT)
        return user

    def revoke_tokens(self, name: str) -> int:
        """Delete every token of a user, effective at once; return how many."""
        revoked = self._store.revoke_tokens(name)
        self._recent.clear()  # rare: forget everyone rather than index by user
        return revoked


_DUMMY_HASH = PasswordHasher().hash("not-a-real-password-" + secrets.token_hex(8))
