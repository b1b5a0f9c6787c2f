"""The error hierarchy.

Library exceptions are converted once, at the adapter boundary, into one of
these. The HTTP layer maps each class to a status code and an RFC 9457 problem.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    status = 500
    title = "Internal error"

    def __init__(
        self, message: str, *, field: str | None = None, extra: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}  # more members for the problem document (e.g. candidates)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(VigilError):
    """A configuration, scenario or rule file is invalid."""

    status = 400
    title = "Invalid configuration"


class ValidationError(VigilError):
    """Input is malformed or out of range; `field` names the culprit."""

    status = 422
    title = "Invalid input"


class NotFoundError(VigilError):
    """The named record does not exist."""

    status = 404
    title = "Not found"


class ConflictError(VigilError):
    """The request conflicts with current state (e.g. duplicate id)."""

    status = 409
    title = "Conflict"


class TransitionError(ConflictError):
    """A state machine refused a transition a real dispatcher could not make."""

    title = "Illegal transition"


class AuthError(VigilError):
    """Missing or invalid credentials."""

    status = 401
    title = "Unauthorised"


class ForbiddenError(VigilError):
    """Valid credentials, but the role may not do this."""

    status = 403
    title = "Forbidden"


class StoreError(VigilError):
    """The store failed or its contents are inconsistent."""

    status = 503
    title = "Store unavailable"


class IngestError(ValidationError):
    """A device message was rejected; `reason` is a stable counter key."""

    title = "Rejected observation"

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class GeoError(ValidationError):
    """A location cannot be used (out of range, off the road network, ...)."""

    title = "Unusable location"


class NoRouteError(GeoError):
    """No legal route exists between two points."""

    title = "No route"
