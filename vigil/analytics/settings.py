"""Configuration of the analytics: definitions, targets and statistical choices."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AnalyticsSettings(BaseModel):
    """How response-time KPIs are measured and their uncertainty estimated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: str = Field(
        default="UTC",
        description="IANA time zone for hour-of-day and period breakdowns (timestamps are UTC).",
    )
    area: Literal["station_area", "zone", "battalion"] = Field(
        default="station_area", description="Which column the 'area' breakdown uses."
    )
    period: Literal["week", "month", "quarter", "year"] = Field(
        default="month", description="Length of the 'period' breakdown and of trend plots."
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="Confidence level of every interval."
    )
    bootstrap_resamples: int = Field(
        default=1000,
        ge=200,
        le=100_000,
        description="Monte Carlo resamples of the bootstrap of a small group's mean.",
    )
    seed: int = Field(default=12, description="Random seed of the Monte Carlo bootstrap.")
    max_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="Intervals longer than this are excluded as recording errors (and counted).",
    )
    ems_unit_types: tuple[str, ...] = Field(
        default=("MEDIC", "PRIVATE", "AMBULANCE", "ALS", "BLS", "EMS"),
        description="Unit types held to the EMS turnout target (60 s) instead of fire (80 s).",
    )
    min_group_n: int = Field(
        default=1, ge=1, description="Groups with fewer included values are listed without CIs."
    )
