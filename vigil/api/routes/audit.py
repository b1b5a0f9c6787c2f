"""Audit: the access log, chain verification, and the raw event log export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from vigil.api.schemas import AuditOut, EventOut, VerifyOut
from vigil.api.security import MAX_SEQ, Allow, AppDep, Principal
from vigil.audit.roles import ANALYST_EXPORT, AUDITORS

router = APIRouter(tags=["audit"])


@router.get("/audit/entries")
def audit_entries(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(AUDITORS))],
    subject: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditOut]:
    """Return audit entries (who looked at which personal data, and why), newest first."""
    return [
        AuditOut.of(e) for e in app.store.audit_entries(subject=subject, actor=actor, limit=limit)
    ]


@router.get("/audit/verify")
def verify(app: AppDep, _: Annotated[Principal, Depends(Allow(AUDITORS))]) -> VerifyOut:
    """Recompute the event and audit hash chains."""
    return VerifyOut.of(app.store.verify())


@router.get("/events")
def events(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(ANALYST_EXPORT))],
    after_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[EventOut]:
    """Export the event log in order (it holds no personal data)."""
    return [EventOut.of(r) for r in app.store.read(after_seq=after_seq, limit=limit)]
