"""Events of the analytics domain: a forecast issued for rules to act on."""

from __future__ import annotations

from vigil.core.events import Event, register


@register
class ForecastIssued(Event, frozen=True, kw_only=True, tag="forecast.issued"):
    """Expected calls over the next hours for one area and call type, with its interval."""

    call_type: str  # "" for all types
    area: str  # "" for the whole city
    horizon_h: int
    expected: float
    low: float
    high: float
    level: float
    mase: float | None = None  # the model's backtest MASE (vs seasonal naive), when known

    def stream(self) -> str:
        """Return ``forecast/<type>/<area>``."""
        return f"forecast/{self.call_type or 'all'}/{self.area or 'all'}"
