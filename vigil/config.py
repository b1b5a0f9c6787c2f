"""The one settings model: YAML file + VIGIL_* environment variables.

Secrets never go in the YAML; they come from the environment (or files named
there). `vigil config check FILE` validates a file against this model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.alerts.settings import AlertSettings
from vigil.analytics.settings import AnalyticsSettings
from vigil.bus.settings import BusSettings, LogBusSettings
from vigil.city.settings import CitySettings
from vigil.core.errors import ConfigError
from vigil.exchange.settings import ExchangeSettings
from vigil.geo.settings import GeoSettings
from vigil.ingest.settings import IngestSettings
from vigil.rules.settings import RulesSettings
from vigil.web.settings import UiSettings


class ServerSettings(BaseModel):
    """The HTTP server."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port to listen on.")
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Larger request bodies are refused with 413 before being read.",
    )
    live_buffer: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Changes one live-feed client may have waiting; beyond, it is told to resync.",
    )
    live_flush_s: float = Field(
        default=0.0,
        ge=0,
        le=5,
        description="Send live changes in windows this long (one write per client per window); "
        "0 sends each burst at once. Raise it (0.25-0.5) for many thousands of clients.",
    )


class AuthSettings(BaseModel):
    """Logins and tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="Lifetime of a token issued at login."
    )
    login_attempts_per_minute: int = Field(
        default=20, ge=1, description="Login attempts one client address may make per minute."
    )
    login_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins one account may take per lockout window."
    )
    login_lockout_minutes: float = Field(
        default=5.0, gt=0, description="Window in which failed logins on one account count."
    )
    hash_workers: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Threads that check passwords (argon2id, 64 MiB each), apart from requests.",
    )
    hash_queue: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="Logins that may wait for a hashing thread; more: 503.",
    )
    refusal_delay_s: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="A refused login (429/503) is answered this much later, so a flooding "
        "client slows itself down; 0 = at once.",
    )


class AuditSettings(BaseModel):
    """Personal data and its audit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    personal_data_retention_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a caller's name and phone are kept after the call; then purged.",
    )
    purge_interval_s: float = Field(
        default=3600.0, gt=0, description="How often `vigil serve` purges expired personal data."
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs chain checkpoints; a secret file, "
        "set it from the environment (VIGIL_AUDIT__SIGNING_KEY_FILE). None: no checkpoints.",
    )
    anchor_file: Path | None = Field(
        default=None,
        description="Append-only file of signed checkpoints; default <data_dir>/anchors.jsonl. "
        "Keep it (or copies) outside the database's reach.",
    )
    checkpoint_interval_s: float = Field(
        default=300.0, gt=0, description="How often `vigil serve` signs a checkpoint."
    )


class StoreSettings(BaseModel):
    """Where the event log, projections, accounts and observations live."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = Field(
        default=None,
        description="None: SQLite files in data_dir (zero setup). A PostgreSQL/PostGIS URL "
        "(postgresql://host:5432/vigil; the password from VIGIL_STORE__URL or ~/.pgpass, "
        "never the YAML) puts every store there, for several processes or machines; create "
        "its schema with `vigil db upgrade`.",
        pattern=r"^(postgres|postgresql)://",
    )
    pool_size: int = Field(
        default=8, ge=1, le=100, description="PostgreSQL connections per pool (two per process)."
    )
    connect_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a write waits for PostgreSQL before failing (503) in an outage.",
    )
    retry_after_s: float = Field(
        default=5.0, gt=0, le=600, description="Retry-After sent with 503 during an outage."
    )


class Settings(BaseSettings):
    """Everything a deployment configures."""

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix="VIGIL_", env_nested_delimiter="__", frozen=True
    )
    data_dir: Path = Field(
        default=Path("var"), description="Directory of the store, caches and dead-letter files."
    )
    catalogue: Path | None = Field(
        default=None, description="Incident/unit type catalogue (YAML); None uses the built-in one."
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP server.")
    store: StoreSettings = Field(
        default_factory=StoreSettings, description="Store: SQLite (default) or PostgreSQL."
    )
    auth: AuthSettings = Field(default_factory=AuthSettings, description="Logins and tokens.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Personal data.")
    geo: GeoSettings = Field(default_factory=GeoSettings, description="Road network and routing.")
    city: CitySettings = Field(
        default_factory=CitySettings, description="The city: time zone, stations, units, history."
    )
    bus: BusSettings = Field(
        default_factory=LogBusSettings,
        description="The bus: kind log (embedded) or nats (NATS JetStream, several processes).",
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Device ingest.")
    rules: RulesSettings = Field(default_factory=RulesSettings, description="Rules engine.")
    ui: UiSettings = Field(default_factory=UiSettings, description="Command-centre UI.")
    analytics: AnalyticsSettings = Field(
        default_factory=AnalyticsSettings, description="Response KPIs, evaluations, claims."
    )
    alerts: AlertSettings = Field(
        default_factory=AlertSettings, description="Public alerts, CAP in, citizen reports."
    )
    exchange: ExchangeSettings = Field(
        default_factory=ExchangeSettings, description="Incident exchange (NENA EIDO)."
    )


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from a YAML file (optional) and the environment; overrides win."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text("utf-8"))
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {err}") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of settings")
        data = loaded or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**data)
    except PydanticValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ConfigError(f"{path or 'settings'}: " + "; ".join(lines)) from err
