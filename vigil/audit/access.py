"""Personal data: every look is recorded with who, when, which record and why."""

from __future__ import annotations

from typing import Protocol

from vigil.core.clock import Clock
from vigil.core.errors import NotFoundError, ValidationError
from vigil.store.ports import AuditTrail, PersonalDataStore
from vigil.store.records import AuditEntry, PersonalData

MIN_PURPOSE_CHARS = 5


class AccessStore(PersonalDataStore, AuditTrail, Protocol):
    """What audited access needs: the personal data, and the trail of who read it."""


class PersonalDataAccess:
    """The only way to read caller identity; it writes the audit trail first."""

    def __init__(self, store: AccessStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def caller(self, call_id: str, *, actor: str, purpose: str) -> PersonalData:
        """Return a call's caller details, auditing the look before returning anything."""
        purpose = purpose.strip()
        if len(purpose) < MIN_PURPOSE_CHARS:
            raise ValidationError(
                f"state the purpose of this access (at least {MIN_PURPOSE_CHARS} characters)",
                field="purpose",
            )
        data = self._store.personal(call_id)
        self._store.append_audit(
            at=self._clock.now(),
            actor=actor,
            action="read_caller" if data else "read_caller_missing",
            subject=f"call/{call_id}",
            purpose=purpose,
            detail="" if data else "no personal data held (never given or purged)",
        )
        if data is None:
            raise NotFoundError(
                f"no personal data held for call {call_id} (never given, or purged)",
                field="call_id",
            )
        return data

    def record(
        self, *, actor: str, action: str, subject: str, purpose: str, detail: str = ""
    ) -> AuditEntry:
        """Append an audit entry for another audited action (export, purge, ...)."""
        return self._store.append_audit(
            at=self._clock.now(),
            actor=actor,
            action=action,
            subject=subject,
            purpose=purpose,
            detail=detail,
        )

    def purge_expired(self, *, actor: str = "system") -> list[str]:
        """Delete personal data past its retention and audit the purge."""
        purged = self._store.purge_personal(self._clock.now())
        if purged:
            self.record(
                actor=actor,
                action="purge_personal_data",
                subject=f"calls/{len(purged)}",
                purpose="retention period ended",
                detail=",".join(purged),
            )
        return purged
