"""The incident-type catalogue: defaults and run cards, loaded from YAML."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ConfigError, ValidationError
from vigil.incidents.model import Agency


class Need(BaseModel):
    """One line of a run card: `count` units bringing `capability`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capability: str = Field(description="Capability the units must carry, e.g. engine or als.")
    count: Annotated[int, Field(ge=1, le=20, description="How many units must bring it.")]


class IncidentType(BaseModel):
    """Defaults and run card of one incident type."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(description="Human name shown to operators.")
    agency: Agency = Field(description="Lead agency.")
    priority: Annotated[int, Field(ge=1, le=5, description="Default priority, 1 = most urgent.")]
    run_card: tuple[Need, ...] = Field(description="Units the type draws.")


class UnitType(BaseModel):
    """A kind of unit and the capabilities it carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    agency: Agency = Field(description="Agency that staffs it.")
    capabilities: tuple[str, ...] = Field(description="Capabilities it brings to a run card.")


class Catalogue(BaseModel):
    """All incident and unit types of a deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unit_types: dict[str, UnitType] = Field(description="Unit types by name.")
    incident_types: dict[str, IncidentType] = Field(description="Incident types by name.")

    def incident_type(self, name: str) -> IncidentType:
        """Return an incident type or refuse the unknown name."""
        try:
            return self.incident_types[name]
        except KeyError:
            known = ", ".join(sorted(self.incident_types))
            raise ValidationError(
                f"unknown incident type {name!r} (known: {known})", field="type"
            ) from None

    def unit_type(self, name: str) -> UnitType:
        """Return a unit type or refuse the unknown name."""
        try:
            return self.unit_types[name]
        except KeyError:
            known = ", ".join(sorted(self.unit_types))
            raise ValidationError(
                f"unknown unit type {name!r} (known: {known})", field="type"
            ) from None


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load a catalogue file, or the built-in default when `path` is None."""
    if path is None:
        text = resources.files("vigil.incidents").joinpath("catalogue.yaml").read_text("utf-8")
        source = "built-in catalogue"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as err:
            raise ConfigError(f"cannot read catalogue {path}: {err}") from err
        source = str(path)
    try:
        catalogue = Catalogue.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, PydanticValidationError) as err:
        raise ConfigError(f"{source}: {err}") from err
    for name, itype in catalogue.incident_types.items():
        for need in itype.run_card:
            if not any(need.capability in u.capabilities for u in catalogue.unit_types.values()):
                raise ConfigError(
                    f"{source}: incident type {name} needs {need.capability!r}, "
                    "which no unit type carries"
                )
    return catalogue
