"""Configuration of the rules engine."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RulesSettings(BaseModel):
    """Rules engine settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    files: tuple[Path, ...] = Field(
        default=(), description="Rule files (YAML); empty uses the built-in demo rule set."
    )
    reload_interval_s: float = Field(
        default=2.0, gt=0, description="How often rule files are checked for changes."
    )
    notify_queue_size: int = Field(
        default=1000, ge=1, description="Webhook/MQTT notifications queued before dropping."
    )
    notify_retries: int = Field(
        default=3, ge=0, le=20, description="Retries of a failed notification."
    )
    notify_backoff_s: float = Field(
        default=0.5, gt=0, description="First retry delay; doubles on each retry."
    )
    notify_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST or MQTT acknowledgement."
    )
    mqtt_host: str = Field(
        default="127.0.0.1", description="Broker that notify_mqtt actions publish to."
    )
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="Its TCP port.")
