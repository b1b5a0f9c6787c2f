"""Configuration of device ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class MqttTlsSettings(BaseModel):
    """TLS of Vigil's MQTT connection (``mqtts://``, usually port 8883)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(default=False, description="Connect over TLS (mqtts).")
    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) the broker's certificate must chain to; "
        "None: the system's trust store.",
    )
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) when the broker asks for one."
    )
    key_file: Path | None = Field(
        default=None, description="Private key (PEM) of the client certificate; a secret file."
    )


class BrokerFilesSettings(BaseModel):
    """Mosquitto password and ACL files that Vigil writes from its device registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    password_file: Path | None = Field(
        default=None,
        description="Mosquitto password file Vigil keeps (one line per device, gateway and "
        "Vigil itself); None: Vigil does not manage broker credentials.",
    )
    acl_file: Path | None = Field(
        default=None,
        description="Mosquitto ACL file Vigil rewrites: each device may publish only on its "
        "own topics, each gateway on its own batch topic, Vigil may only subscribe.",
    )
    reload_command: list[str] | None = Field(
        default=None,
        description="Command run after the files change so the broker rereads them, e.g. "
        "[systemctl, reload, mosquitto] (Mosquitto rereads them on SIGHUP).",
    )

    @model_validator(mode="after")
    def _both(self) -> BrokerFilesSettings:
        if (self.password_file is None) != (self.acl_file is None):
            raise ValueError("password_file and acl_file are managed together: set both or none")
        return self


class MqttSettings(BaseModel):
    """Connection to the city's MQTT broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(default=False, description="Subscribe to the broker at start-up.")
    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    site: str = Field(default="+", description="Site segment of vigil/<site>/devices/#; + = all.")
    client_id: str = Field(
        default="vigil-ingest", description="Client id of the persistent session."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive, seconds.")
    reconnect_min_s: int = Field(
        default=1, ge=1, le=60, description="First reconnect delay; doubles on each failure."
    )
    reconnect_max_s: int = Field(
        default=30, ge=1, le=600, description="Longest delay between reconnect attempts."
    )
    username: str | None = Field(
        default=None, description="Vigil's own MQTT user name; None: connect anonymously."
    )
    password: SecretStr | None = Field(
        default=None,
        description="Vigil's MQTT password: from VIGIL_INGEST__MQTT__PASSWORD, never the YAML "
        "(or use password_file).",
    )
    password_file: Path | None = Field(
        default=None, description="Secret file holding Vigil's MQTT password (first line)."
    )
    tls: MqttTlsSettings = Field(default_factory=MqttTlsSettings, description="TLS (mqtts).")
    broker: BrokerFilesSettings = Field(
        default_factory=BrokerFilesSettings,
        description="Broker credentials and ACLs written by Vigil (per-device MQTT logins).",
    )

    def secret(self) -> str | None:
        """Return Vigil's MQTT password (from the setting or its secret file), if any."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            lines = self.password_file.read_text("utf-8").splitlines()
            return lines[0].strip() if lines else ""
        return None


class IngestSettings(BaseModel):
    """Device ingest settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="MQTT adapter.")
    max_payload_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger messages are rejected and dead-lettered."
    )
    max_batch: int = Field(
        default=100, ge=1, le=10_000, description="Most observations one gateway message may carry."
    )
    max_future_s: float = Field(
        default=300.0,
        ge=0,
        description="Readings stamped further than this in the future are rejected.",
    )
    max_age_s: float | None = Field(
        default=None, gt=0, description="Readings older than this are rejected; None = no limit."
    )
    devices_file: Path | None = Field(
        default=None, description="YAML devices file registered at start-up (devices: [...])."
    )
    ngsi_entities: dict[str, str] = Field(
        default_factory=dict,
        description="NGSI-LD entity id (URN) -> device id; wins over refDevice and the "
        "entity's own id when a notification names that entity.",
    )
    offline_grace: float = Field(
        default=3.0,
        ge=1.0,
        description="A device is offline after interval_s x this factor of silence.",
    )
    offline_check_s: float = Field(
        default=10.0, gt=0, description="How often silent devices are looked for."
    )
    dead_letter_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a rejected message is kept for inspection; then it is deleted.",
    )
    commit_batch: int = Field(
        default=5000, ge=1, description="Most observations written in one transaction."
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite synchronous mode of the observation store: FULL survives power "
        "loss; NORMAL survives a process crash only.",
    )
