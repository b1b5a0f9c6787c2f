"""Health and the type catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from vigil.api.security import Allow, AppDep, Principal, Public
from vigil.audit.roles import VIEWERS

router = APIRouter(tags=["meta"])


@router.get("/health", dependencies=[Depends(Public())])
def health(app: AppDep) -> dict[str, Any]:
    """Report liveness, the log position and the server's time (the clock the UI shows)."""
    return {"status": "ok", "last_seq": app.store.last_seq(), "now": app.clock.now().isoformat()}


@router.get("/catalogue")
def catalogue(app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]) -> dict[str, Any]:
    """Return incident types (with run cards) and unit types."""
    return app.cad.catalogue.model_dump(mode="json")
