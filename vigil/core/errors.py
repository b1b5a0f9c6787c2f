"""The error hierarchy.

Library exceptions are converted once, at the adapter boundary, into one of
these. They carry what went wrong and which field, never a transport's code:
the HTTP layer (`vigil.api.problems`) maps each class to a status and title.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

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


class ValidationError(VigilError):
    """Input is malformed or out of range; `field` names the culprit."""


class NotFoundError(VigilError):
    """The named record does not exist."""


class ConflictError(VigilError):
    """The request conflicts with current state (e.g. duplicate id)."""


class WriteConflictError(ConflictError):
    """An append's expectation failed: a stream it was decided on changed meanwhile.

    Raised by `EventLog.append` when another writer (another process) appended to
    one of the expected streams after the seq the decision reflected; nothing was
    written. The command handler catches up and decides again; it reaches a
    caller only when the retries ran out.
    """


class TransitionError(ConflictError):
    """A state machine refused a transition a real dispatcher could not make."""


class AuthError(VigilError):
    """Missing or invalid credentials."""


class ForbiddenError(VigilError):
    """Valid credentials, but the role may not do this."""


class TooManyRequestsError(VigilError):
    """A rate limit refused the request; retry after `retry_after_s` seconds."""

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class BusyError(VigilError):
    """A bounded resource is saturated; retry after `retry_after_s` seconds."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreError(VigilError):
    """The store failed or its contents are inconsistent."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached (a database outage); nothing was written: retry later."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IngestError(ValidationError):
    """A device message was rejected; `reason` is a stable counter key."""

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class GeoError(ValidationError):
    """A location cannot be used (out of range, off the road network, ...)."""


class NoRouteError(GeoError):
    """No legal route exists between two points."""


class RateLimitedError(VigilError):
    """Too many requests from one client or for one area; try again later."""
