"""Events about users (never their secrets)."""

from __future__ import annotations

from vigil.core.events import Event, register


@register
class UserAdded(Event, frozen=True, kw_only=True, tag="user.added"):
    """A login was created."""

    name: str
    role: str

    def stream(self) -> str:
        """Return ``user/<name>``."""
        return f"user/{self.name}"


@register
class TokenIssued(Event, frozen=True, kw_only=True, tag="user.token_issued"):
    """An API token was issued to a user (the token itself is never logged)."""

    name: str
    label: str

    def stream(self) -> str:
        """Return ``user/<name>``."""
        return f"user/{self.name}"
