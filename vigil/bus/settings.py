"""Configuration of the bus: the embedded log bus, or NATS JetStream for several processes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class LogBusSettings(BaseModel):
    """The embedded bus: consumers in this process read the store's log (one process)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["log"] = Field(default="log", description="The embedded, in-process bus.")


class NatsBusSettings(BaseModel):
    """NATS JetStream (server 2.9 or later): several processes on one store and one bus."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["nats"] = Field(description="NATS JetStream.")
    url: str = Field(
        default="nats://127.0.0.1:4222",
        description="Server URL(s), comma-separated for a cluster (nats://a:4222,nats://b:4222).",
    )
    prefix: str = Field(
        default="vigil",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Names this deployment's streams (<prefix>_events, _topics, _dead) and "
        "subjects (<prefix>.ev.>, <prefix>.tp.>, <prefix>.dead.>).",
    )
    replicas: int = Field(
        default=1, ge=1, le=5, description="Stream replicas: 3 on a 3-node cluster."
    )
    partitions: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Device partitions of the observations topic (fixed for a deployment: "
        "a device's partition is crc32(device id) mod this).",
    )
    owned: str = Field(
        default="all",
        description="Partitions this process's rules and device monitor handle: all, 3, "
        "0-7 or 0-3,8-11, or auto: taken by lease within the group of workers with the same "
        "roles, balanced, and taken over when a worker dies (`vigil serve --partitions` "
        "sets it per worker).",
    )
    lease_ttl_s: float = Field(
        default=6.0,
        gt=0,
        le=300,
        description="With partitions: auto, how long a partition's lease lasts unless renewed "
        "(renewed every quarter of it): a dead worker's partitions move after at most this.",
    )
    lease_margin_s: float = Field(
        default=1.5,
        gt=0,
        description="A worker stops handling a partition this long before its lease would "
        "expire unrenewed (covers clock skew between workers and the batch in hand); "
        "less than half of lease_ttl_s.",
    )
    member: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Names this process's durable consumers (<name>@<member>), so workers "
        "sharing the store keep cursors of their own; set by `vigil serve --role`.",
    )
    max_deliver: int = Field(
        default=5, ge=1, description="Deliveries of one message before JetStream gives up on it."
    )
    ack_wait_s: float = Field(
        default=60.0, gt=0, description="Unacknowledged this long, a message is redelivered."
    )
    attempts: int = Field(
        default=3, ge=1, description="Tries of a failing handler before its input is dead-lettered."
    )
    topic_max_msgs: int = Field(
        default=100_000,
        ge=100,
        description="Batches the observations stream holds for listeners behind; beyond it, "
        "ingest waits (MQTT acknowledgements stop).",
    )
    events_max_age_s: float = Field(
        default=7 * 86400.0, gt=0, description="How long the events stream keeps a record."
    )
    duplicate_window_s: float = Field(
        default=120.0, gt=0, description="Window in which a re-published event id is dropped."
    )


BusSettings = Annotated[LogBusSettings | NatsBusSettings, Field(discriminator="kind")]
