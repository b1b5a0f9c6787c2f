"""Stream conventions: what each kind of device reports, in which SI unit, within which range.

| kind              | stream      | unit       | notes |
|-------------------|-------------|------------|-------------------------------------------------|
| noise_meter       | laeq, lamax | dB(A)      | A-weighted equivalent / maximum level |
| air_quality       | pm25, pm10  | µg/m³      | |
| air_quality       | no2         | µg/m³      | |
| flood_gauge       | level       | m          | water level above the gauge datum |
| crowd_counter     | count       | people     | |
| crowd_counter     | density     | people/m²  | > 4-5 in a moving crowd is dangerous |
| smoke_panel       | alarm       | (flag)     | bool → 1.0 / 0.0 |
| acoustic_detector | impulse     | dB(A)      | peak level; attrs class (gunshot, …), confidence |
| acoustic_detector | laeq        | dB(A)      | |
| camera_analytics  | count       | people     | attrs class ∈ person/vehicle/bicycle, zone |
| camera_analytics  | behaviour   | (flag)     | attrs kind ∈ loitering/running/fall/crowd_forming |
| panic_button      | pressed     | (flag)     | bool → 1.0 / 0.0 |
| weather_station   | rain_mm_h   | mm/h       | |
| weather_station   | wind_ms     | m/s        | |
| weather_station   | temp_c      | C          | |
| (every kind)      | alert       | level      | NGSI-LD `Alert`: severity 0 info … 4 critical; |
|                   |             |            | attrs category, sub_category |

Camera and microphone analytics describe *places*: counts, classes, behaviours
and levels. Attributes are an allowlist, not a denylist: a reading may carry
only the descriptive attributes named in `DESCRIPTIVE_ATTRS`, so nothing that
could identify someone gets in under a new name.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.ingest.model import DeviceKind


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream's SI unit, valid range and attribute vocabulary."""

    unit: str
    low: float = -1e12
    high: float = 1e12
    flag: bool = False  # a boolean stream: true/false stored as 1.0/0.0
    attr_values: tuple[tuple[str, frozenset[str]], ...] = ()  # attr -> allowed values


def _flag() -> StreamSpec:
    return StreamSpec(unit="", low=0.0, high=1.0, flag=True)


DB = StreamSpec(unit="dB(A)", low=0.0, high=200.0)
CAMERA_CLASSES = frozenset({"person", "vehicle", "bicycle"})
BEHAVIOURS = frozenset(
    {
        "loitering",
        "running",
        "fall",
        "crowd_forming",
        # from the camera worker (vigil/video): zone-level behaviours, never identities
        "intrusion",
        "gathering",
        "abandoned_object",
    }
)

STREAMS: dict[DeviceKind, dict[str, StreamSpec]] = {
    DeviceKind.NOISE_METER: {"laeq": DB, "lamax": DB},
    DeviceKind.AIR_QUALITY: {
        "pm25": StreamSpec(unit="µg/m³", low=0.0, high=5000.0),
        "pm10": StreamSpec(unit="µg/m³", low=0.0, high=10000.0),
        "no2": StreamSpec(unit="µg/m³", low=0.0, high=10000.0),
    },
    DeviceKind.FLOOD_GAUGE: {"level": StreamSpec(unit="m", low=-100.0, high=1000.0)},
    DeviceKind.CROWD_COUNTER: {
        "count": StreamSpec(unit="people", low=0.0, high=10_000_000.0),
        "density": StreamSpec(unit="people/m²", low=0.0, high=20.0),
    },
    DeviceKind.SMOKE_PANEL: {"alarm": _flag()},
    DeviceKind.ACOUSTIC_DETECTOR: {"impulse": DB, "laeq": DB},
    DeviceKind.CAMERA_ANALYTICS: {
        "count": StreamSpec(
            unit="people", low=0.0, high=1_000_000.0, attr_values=(("class", CAMERA_CLASSES),)
        ),
        "behaviour": StreamSpec(
            unit="", low=0.0, high=1.0, flag=True, attr_values=(("kind", BEHAVIOURS),)
        ),
    },
    DeviceKind.PANIC_BUTTON: {"pressed": _flag()},
    DeviceKind.WEATHER_STATION: {
        "rain_mm_h": StreamSpec(unit="mm/h", low=0.0, high=2000.0),
        "wind_ms": StreamSpec(unit="m/s", low=0.0, high=150.0),
        "temp_c": StreamSpec(unit="C", low=-90.0, high=70.0),
    },
}

ALERT = StreamSpec(unit="level", low=0.0, high=4.0)
COMMON: dict[str, StreamSpec] = {"alert": ALERT}

# The only attribute names a reading may carry, on any stream: each describes
# what was sensed at a place, never who. Vigil records events about places.
DESCRIPTIVE_ATTRS = frozenset(
    {
        "class",  # what a classifier heard or saw: impulse, person, vehicle, ...
        "kind",  # a behaviour: loitering, running, fall, crowd_forming
        "confidence",  # the classifier's confidence, 0..1
        "category",  # NGSI-LD Alert category
        "sub_category",  # NGSI-LD Alert subCategory
        "indoor",  # whether the sensor is indoors
        "quality",  # the device's own data-quality flag
    }
)


def default_streams(kind: DeviceKind) -> dict[str, str]:
    """Return the conventional streams of a kind: stream name -> SI unit."""
    return {name: spec.unit for name, spec in STREAMS[kind].items()}


def spec_for(kind: DeviceKind, stream: str, unit: str) -> StreamSpec:
    """Return the spec of a device's stream (custom streams get an unbounded spec)."""
    spec = STREAMS[kind].get(stream) or COMMON.get(stream)
    if spec is not None and spec.unit == unit:
        return spec
    return StreamSpec(unit=unit, flag=unit == "")
