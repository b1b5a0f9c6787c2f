"""Settings of public alerts, CAP feeds, delivery channels and citizen reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WebhookChannel(BaseModel):
    """Deliver each published alert's CAP XML by HTTP POST."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["webhook"] = Field(description="Channel type.")
    name: str = Field(min_length=1, max_length=64, description="Channel name shown in the log.")
    url: str = Field(pattern=r"^https?://", description="URL that receives the POST.")


class MqttChannel(BaseModel):
    """Publish each published alert's CAP XML to an MQTT topic (QoS 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mqtt"] = Field(description="Channel type.")
    name: str = Field(min_length=1, max_length=64, description="Channel name shown in the log.")
    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    topic: str = Field(min_length=1, description="Topic the CAP XML is published to.")


Channel = Annotated[WebhookChannel | MqttChannel, Field(discriminator="kind")]


class CapFeed(BaseModel):
    """Another agency's CAP source: an Atom/RSS feed, one CAP file or an EDXL-DE envelope."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=64, description="Name shown on the map.")
    url: str = Field(
        pattern=r"^(https?|file)://",
        description="http(s) URL of the feed, or file:// of a local file an operator drops in.",
    )
    interval_s: float = Field(default=300.0, ge=5, description="Seconds between polls.")


class AlertSettings(BaseModel):
    """Public warnings (CAP 1.2), CAP in from other agencies, and citizen reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sender: str = Field(
        default="vigil@city.example",
        pattern=r"^[^\s,<&]+$",
        description="CAP <sender> of the city's alerts (no spaces or commas).",
    )
    sender_name: str = Field(default="City of Vigil", description="CAP <senderName>.")
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Base URL of the public feed, used in Atom links and CAP <web>.",
    )
    cap_schema: Path | None = Field(
        default=None,
        description=(
            "The OASIS CAP 1.2 XSD (cap12.xsd, from OASIS; `vigil demo` uses the copy in "
            "../shared/data/cap). Every alert is checked against it before it is published; "
            "unset, only the profile rules are checked and the publication event says "
            "'none configured'. A path that does not exist is an error."
        ),
    )
    two_person_rule: bool = Field(
        default=True, description="An alert's approver must be someone other than its authors."
    )
    default_expiry_h: float = Field(
        default=6.0, gt=0, le=24 * 14, description="Expiry of an alert whose author set none."
    )
    channels: list[Channel] = Field(
        default_factory=list, description="Where published alerts are delivered."
    )
    delivery_retries: int = Field(default=4, ge=0, le=20, description="Retries per delivery.")
    delivery_backoff_s: float = Field(
        default=2.0, gt=0, description="First retry delay; doubles on each retry."
    )
    feeds: list[CapFeed] = Field(default_factory=list, description="CAP sources to subscribe to.")
    max_cap_bytes: int = Field(
        default=1_000_000, ge=1024, description="Larger CAP/Atom/EDXL documents are refused."
    )
    reports_per_client_per_hour: int = Field(
        default=10, ge=1, description="Citizen reports one client may send per hour."
    )
    reports_per_area_per_hour: int = Field(
        default=60, ge=1, description="Citizen reports accepted per ~1 km cell per hour."
    )
    report_photo_max_bytes: int = Field(
        default=1_000_000, ge=10_000, description="Largest photo a citizen may attach."
    )
    report_contact_retention_days: float = Field(
        default=30.0, gt=0, description="Days a reporter's contact details are kept; then purged."
    )
    report_retention_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a citizen report and its photo are kept: then the photo is deleted "
        "and the report leaves the moderation queue and its status link (purged on schedule).",
    )

    @field_validator("cap_schema")
    @classmethod
    def _schema_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(
                f"the CAP schema {v} does not exist (point alerts.cap_schema at the OASIS "
                "cap12.xsd, or leave it unset to check the profile rules only)"
            )
        return v
