"""HTTP: the loaded rules, their versions and counters, and the last reload error."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import Role

router = APIRouter(tags=["rules"])

# Who may read how the rules are set up and how often they fire.
RULE_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.ANALYST})


class RuleOut(BaseModel):
    """A loaded rule."""

    name: str
    version: int
    ref: str = Field(description="name@vN, as recorded on everything the rule causes.")
    digest: str = Field(description="Hash of the rule's text and the zones it uses.")
    file: str
    description: str
    match: str
    actions: list[str]
    matched: int = Field(description="Events that matched kind/stream and scope.")
    triggered: int = Field(description="Times its conditions were met.")
    fired: int = Field(description="Times it acted.")
    suppressed: int = Field(description="Triggers held back by the cooldown.")
    condition_errors: int
    action_errors: int
    last_error: str | None
    last_fired_at: datetime | None


class ProblemOut(BaseModel):
    """One problem of a refused rule file."""

    file: str
    line: int
    rule: str | None
    field: str | None
    message: str


class RulesOut(BaseModel):
    """The rules in force and the reload status."""

    files: list[str]
    loaded_at: datetime | None
    reloads: int
    failed_reloads: int
    last_reload_error: str | None = Field(
        description="Why the last reload was refused (the previous rules stayed active)."
    )
    last_reload_error_at: datetime | None
    problems: list[ProblemOut]
    rules: list[RuleOut]


@router.get("/rules")
def list_rules(app: AppDep, _: Annotated[Principal, Depends(Allow(RULE_READERS))]) -> RulesOut:
    """List the loaded rules with versions and counters, and the last reload error."""
    engine = app.rules
    status = engine.status()
    return RulesOut(
        files=list(engine.rules.files),
        loaded_at=status.loaded_at,
        reloads=status.reloads,
        failed_reloads=status.failed_reloads,
        last_reload_error=status.last_error,
        last_reload_error_at=status.last_error_at,
        problems=[
            ProblemOut(file=p.file, line=p.line, rule=p.rule, field=p.field, message=p.message)
            for p in status.problems
        ],
        rules=[
            RuleOut(
                name=r.name,
                version=r.version,
                ref=f"{r.name}@v{r.version}",
                digest=r.digest,
                file=r.file,
                description=r.description,
                match=r.match,
                actions=list(r.actions),
                matched=r.stats.matched,
                triggered=r.stats.triggered,
                fired=r.stats.fired,
                suppressed=r.stats.suppressed,
                condition_errors=r.stats.condition_errors,
                action_errors=r.stats.action_errors,
                last_error=r.stats.last_error,
                last_fired_at=r.stats.last_fired_at,
            )
            for r in engine.info()
        ],
    )
