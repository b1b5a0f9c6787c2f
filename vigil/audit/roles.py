"""Roles. Every HTTP endpoint declares the roles that may use it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user does in the command centre."""

    CALL_TAKER = "call_taker"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    FIELD_UNIT = "field_unit"
    ADMIN = "admin"
    DEVICE = "device"


HUMAN_ROLES = tuple(r for r in Role if r is not Role.DEVICE)

# Groups used by endpoint declarations; spelled out once so they read like policy.
OPERATORS = frozenset({Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
DISPATCH = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
VIEWERS = frozenset(OPERATORS | {Role.ANALYST, Role.FIELD_UNIT})
UNIT_REPORTERS = frozenset(DISPATCH | {Role.FIELD_UNIT})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
AUDITORS = frozenset({Role.AUDITOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
# Roles that may see caller identity at all (and then only with a purpose).
PERSONAL_DATA = frozenset({Role.CALL_TAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.AUDITOR})
# Who may export the raw event log (it never holds caller identity).
ANALYST_EXPORT = frozenset({Role.ANALYST, Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN})
