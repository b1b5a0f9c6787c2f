"""The acoustic worker's configuration file (MICS.yaml), validated at the edge."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from vigil.audio.detect import DetectorSettings
from vigil.audio.ordinance import Limit
from vigil.core.errors import ConfigError

DEVICE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,55}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileInput(_Model):
    """A recording (WAV, FLAC or anything libsndfile reads)."""

    kind: Literal["file"] = "file"
    path: Path = Field(description="The recording.")
    loop: bool = Field(default=False, description="Start again at the end (demos, soak tests).")
    realtime: bool = Field(default=True, description="Pace to the wall clock, as a live mic.")
    speed: float = Field(default=1.0, gt=0, le=1000, description="With realtime: play this fast.")
    max_s: float | None = Field(default=None, gt=0, description="Stop after this much signal.")


class HttpInput(_Model):
    """A WAV or raw PCM stream over HTTP(S)."""

    kind: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://", description="Stream URL.")
    format: Literal["wav", "s16le", "s32le", "f32le"] = Field(
        default="wav", description="wav (header read from the stream) or raw PCM."
    )
    fs: int | None = Field(default=None, ge=8000, description="Sample rate of raw PCM.")
    channels: int = Field(default=1, ge=1, le=8, description="Channels of raw PCM.")


class RtpInput(_Model):
    """L16 audio over RTP/UDP (RFC 3551)."""

    kind: Literal["rtp"] = "rtp"
    host: str = Field(default="0.0.0.0", description="Address to listen on.")  # noqa: S104
    port: int = Field(ge=1, le=65535, description="UDP port to listen on.")
    fs: int = Field(ge=8000, description="Sample rate of the stream.")
    channels: int = Field(default=1, ge=1, le=8, description="Channels of the stream.")


class LiveInput(_Model):
    """A sound card through PortAudio/ALSA (needs the audio-live extra)."""

    kind: Literal["live"] = "live"
    device: str | int | None = Field(default=None, description="PortAudio device; None = default.")
    fs: int = Field(default=48000, ge=8000, description="Sample rate to open the card at.")
    channels: int = Field(default=1, ge=1, le=8, description="Channels to open.")


Input = Annotated[FileInput | HttpInput | RtpInput | LiveInput, Field(discriminator="kind")]


class CalibrationIn(_Model):
    """Either the SPL of a full-scale sine, or a recorded calibrator tone and its level."""

    full_scale_db: float | None = Field(
        default=None, ge=60, le=200, description="SPL (dB) of a full-scale sine at this mic."
    )
    reference_file: Path | None = Field(
        default=None, description="A recording of a calibrator on this mic (read once, in memory)."
    )
    reference_db: float = Field(default=94.0, ge=60, le=140, description="The calibrator's level.")

    @model_validator(mode="after")
    def _one(self) -> CalibrationIn:
        if (self.full_scale_db is None) == (self.reference_file is None):
            raise ValueError("give exactly one of full_scale_db or reference_file")
        return self


class LimitIn(_Model):
    """An ordinance limit for part of the day."""

    start: time = Field(description="Local time it starts, HH:MM.")
    end: time = Field(description="Local time it ends (before start: runs over midnight).")
    period_s: float = Field(default=900.0, ge=1, le=86400, description="LAeq averaging period.")
    laeq_db: float = Field(ge=0, le=150, description="Limit, dB(A).")

    def to_domain(self) -> Limit:
        """Return the domain limit."""
        return Limit(start=self.start, end=self.end, period_s=self.period_s, laeq_db=self.laeq_db)


class DetectorIn(_Model):
    """Per-site thresholds of the impulsive-event detector (defaults in vigil/audio/detect.py)."""

    rise_db: float = Field(
        default=12.0, gt=0, description="Envelope rise within 30 ms at an onset."
    )
    min_excess_db: float = Field(default=25.0, gt=0, description="LCpeak over background LAeq.")
    min_crest_db: float = Field(
        default=8.0, ge=0, description="LCpeak over the 125 ms LCeq after onset."
    )
    max_rise_ms: float = Field(default=15.0, gt=0, description="Longest rise of an impulse.")
    min_gap_s: float = Field(default=0.5, ge=0, description="Impulses closer than this are one.")
    scream_excess_db: float = Field(default=15.0, gt=0, description="Scream level over background.")
    scream_min_s: float = Field(default=0.5, gt=0, description="Shortest scream.")
    scream_min_tonality: float = Field(default=0.5, ge=0, le=1, description="Pitch strength 0..1.")
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Events below are dropped.")

    def to_domain(self) -> DetectorSettings:
        """Return the detector's settings."""
        return DetectorSettings(**self.model_dump())


class MicIn(_Model):
    """One microphone: where it is, what feeds it, how it is calibrated, which limits hold."""

    id: str = Field(
        pattern=DEVICE_ID, description="Microphone id (also its noise-meter device id)."
    )
    lat: float = Field(ge=-90, le=90, description="Latitude (WGS84).")
    lon: float = Field(ge=-180, le=180, description="Longitude (WGS84).")
    zone: str | None = Field(default=None, description="Zone it watches (as registered in Vigil).")
    input: Input = Field(description="Where its samples come from.")
    calibration: CalibrationIn = Field(description="Its calibration.")
    noise_device: str | None = Field(
        default=None, pattern=DEVICE_ID, description="Vigil noise_meter device id; default: id."
    )
    acoustic_device: str | None = Field(
        default=None,
        pattern=DEVICE_ID,
        description="Vigil acoustic_detector device id; default: <id>-ac; '' = none.",
    )
    limits: list[LimitIn] = Field(default_factory=list, description="Ordinance limits.")
    detector: DetectorIn = Field(default_factory=DetectorIn, description="Event thresholds.")
    publish_features: bool = Field(
        default=False, description="Also publish 125 ms levels and octave bands (features topic)."
    )


class MqttOut(_Model):
    """The broker Vigil's ingest listens to."""

    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    site: str = Field(
        default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Site segment."
    )
    client_id: str = Field(default="vigil-audio", description="MQTT client id of the worker.")


class MicsFile(_Model):
    """MICS.yaml: the worker's microphones and where their readings go."""

    worker_id: str = Field(default="audio-1", pattern=DEVICE_ID, description="This worker's id.")
    timezone: str = Field(default="UTC", description="Time zone of the ordinance hours (IANA).")
    report_s: float = Field(default=60.0, ge=1, le=3600, description="Noise-meter report period.")
    health_s: float = Field(default=30.0, ge=1, description="How often health is published.")
    mqtt: MqttOut = Field(default_factory=MqttOut, description="Where readings are published.")
    mics: list[MicIn] = Field(min_length=1, description="The microphones.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {v!r}") from err
        return v

    @model_validator(mode="after")
    def _unique(self) -> MicsFile:
        ids = [m.id for m in self.mics]
        if len(set(ids)) != len(ids):
            raise ValueError("microphone ids must be unique")
        return self


def load_mics(path: Path) -> MicsFile:
    """Read and validate MICS.yaml; errors name the field."""
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    try:
        return MicsFile.model_validate(raw)
    except PydanticValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {first['msg']}", field=where or None) from err
