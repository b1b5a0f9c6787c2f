"""HTTP: NENA EIDO incident exchange — export an incident, import one, validate a document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from vigil.api.security import Allow, AppDep, Principal, Purpose, vigil_app
from vigil.audit.roles import DISPATCH, PERSONAL_DATA
from vigil.core.ids import IncidentId

router = APIRouter(tags=["exchange"])

# Who may hand an incident's caller identity to another agency (and then only with a purpose).
CALLER_EXPORT = frozenset(PERSONAL_DATA & DISPATCH)


class ImportOut(BaseModel):
    """Where an imported EIDO landed."""

    incident_id: IncidentId
    created: bool = Field(description="True: a new incident; false: an existing one was updated.")


class ValidateOut(BaseModel):
    """Whether a document is a valid EIDO, and if not, why."""

    valid: bool
    problems: list[str]


@router.get("/incidents/{incident_id}/eido")
def export_eido(
    incident_id: IncidentId, app: AppDep, who: Annotated[Principal, Depends(Allow(DISPATCH))]
) -> dict[str, Any]:
    """The incident as an EIDO 1.0 document, without caller identity."""
    return app.exchange.export(incident_id, actor=who.name)


@router.get("/incidents/{incident_id}/eido/with-caller")
def export_eido_with_caller(
    incident_id: IncidentId,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(CALLER_EXPORT))],
    why: Purpose,
) -> dict[str, Any]:
    """The EIDO with caller identity: needs X-Vigil-Purpose; the look is audited first."""
    return app.exchange.export(incident_id, actor=who.name, purpose=why)


async def _body(request: Request) -> Any:
    """Read the raw JSON body (size-checked by the exchange, errors naming the field)."""
    return vigil_app(request).exchange.parse(await request.body())


@router.post("/eido", status_code=201)
def import_eido(
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    doc: Annotated[Any, Depends(_body)],
) -> ImportOut:
    """Open (or update) an incident from another agency's EIDO; invalid documents get 422."""
    incident_id, created = app.exchange.take(doc, actor=who.name)
    return ImportOut(incident_id=incident_id, created=created)


@router.post("/eido/validate")
def validate_eido(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(DISPATCH))],
    doc: Annotated[Any, Depends(_body)],
) -> ValidateOut:
    """Check a document against the EIDO schema and Vigil's profile rules."""
    problems = [str(p) for p in app.exchange.problems(doc)]
    return ValidateOut(valid=not problems, problems=problems)
