"""Settings of incident exchange (NENA EIDO)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ExchangeSettings(BaseModel):
    """How Vigil names itself in EIDO documents, and the schema it checks them against."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    agency_id: str = Field(
        default="psap.city.example",
        min_length=3,
        description="This agency's globally unique id in EIDO documents (a domain name).",
    )
    element_id: str = Field(
        default="cad.psap.city.example",
        min_length=3,
        description="issuingElementIdentification: the functional element that writes EIDOs.",
    )
    eido_schema: Path | None = Field(
        default=None,
        description=(
            "NENA's EIDO openapi.yaml (its NIEMComponents/ folder beside it). Imports and "
            "exports are checked against it; without it only Vigil's profile rules are checked. "
            "Not shipped with Vigil (NENA states no licence for redistribution): point it at "
            "your copy of NENA911/EIDO-JSON Schema/. A path that does not exist is an error."
        ),
    )
    max_eido_bytes: int = Field(
        default=2_000_000, ge=10_000, description="Larger EIDO documents are refused."
    )

    @field_validator("eido_schema")
    @classmethod
    def _schema_exists(cls, v: Path | None) -> Path | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(
                f"the EIDO schema {v} does not exist (exchange.eido_schema must name NENA's "
                "openapi.yaml with its NIEMComponents/ folder beside it)"
            )
        return v
