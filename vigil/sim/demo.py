"""`vigil demo`: the whole platform with a simulated evening in a real city, in one command."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import tempfile
import threading
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from vigil.audio import demo as audio_demo
from vigil.audio.worker import Worker
from vigil.audit.roles import Role
from vigil.core.errors import VigilError
from vigil.sim import warning_demo
from vigil.sim.runner import RunOptions, RunResult, SimRun
from vigil.sim.scenario import Scenario, load_scenario

DEMO_USER = "demo"
# A unit the simulator does not drive: a person plays its crew from a phone
# (the field app at /field/), and the recommender dispatches it like any other.
CREW_UNIT = "H1"
# The default city, scaled to be busy: >= 60 units and >= 1,000 devices.
BUSY_FLEET_FACTOR = 3
BUSY_DEVICE_FACTOR = 11


# What a dispatcher sees in the demo's first minutes (five, at the default 30x): the
# default scenario's sea-level rise and gunshot happen early in the evening instead
# of at 03:00 and 01:10. They play out as they would later — the gauges rise, the
# flood rule drafts a CAP warning for approval after 10 minutes above 3.2 m, the
# microphones hear the impulse, callers call and the shots-fired rule opens an
# incident; cameras near the shot see people running. Nothing is injected past
# the simulator's devices and callers. Seconds from the scenario start.
SHOWCASE: dict[str, dict[str, float]] = {
    # Rises 1.2 -> 3.6 m over 40 min: above 3.2 m at ~48 min, the draft at ~58 min.
    "river_rise": {"at": 15 * 60, "rise": 40 * 60, "calls_after": 55 * 60},
    # Impulses at the microphones and three calls within two minutes, at 1 h 20 min.
    "gunshot": {"at": 80 * 60},
}


def busy(scenario: Scenario) -> Scenario:
    """Return the demo's busy city: fleet and devices multiplied, the showcase early.

    A group of devices a situation names (the harbour's river gauges) keeps its
    size: a river reach has a few gauges, and each would draft its own warning.
    """
    data = scenario.model_dump(mode="json")
    for line in data["fleet"]:
        line["count"] *= BUSY_FLEET_FACTOR
    named = {s["devices"] for s in data["situations"] if s.get("devices")}
    for group in data["devices"]:
        if group["name"] not in named:
            group["count"] *= BUSY_DEVICE_FACTOR
    for situation in data["situations"]:
        situation.update(SHOWCASE.get(situation["kind"], {}))
    return Scenario.model_validate(data)


def _rise_at(scenario: Scenario) -> datetime | None:
    flood = next((x for x in scenario.situations if x.kind.value == "river_rise"), None)
    return None if flood is None else scenario.start + timedelta(seconds=flood.at)


def showcase_times(scenario: Scenario) -> dict[str, float]:
    """Return when (seconds from the start) the showcase's situations begin."""
    return {s.kind.value: s.at for s in scenario.situations if s.kind.value in SHOWCASE}


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What `vigil demo` was asked for."""

    data_dir: Path | None = None
    scenario: Path | None = None
    speed: float = 30.0
    seed: int = 1
    port: int = 8080
    duration_s: float | None = None
    manual: bool = False
    open_browser: bool = True
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    video: Path | None = None  # a real clip: one camera worker analyses it (looped)
    audio: bool = True  # run one acoustic worker on a shipped recording (vigil/audio/demo.py)


def has_display() -> bool:
    """Return whether a graphical session is there to open a browser in."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@contextlib.contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="vigil-demo-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C (and SIGTERM) ask the run to stop instead of killing it mid-request."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _start_audio(r: SimRun, options: DemoOptions) -> tuple[Worker, threading.Thread]:
    """Start one acoustic worker on a shipped recording, beside the simulator."""
    assert r.stack is not None
    audio_demo.register(r.stack.url, r.stack.admin_token, site=r.run_site)
    cfg = audio_demo.demo_config(
        site=r.run_site,
        speed=options.speed,
        mqtt_host=options.mqtt_host,
        mqtt_port=options.mqtt_port,
    )
    return audio_demo.start(cfg, r.stack.app.clock)


def _add_crew_unit(r: SimRun, password: str) -> bool:
    """Register the crew unit at the city centre and its field-unit login."""
    import httpx  # noqa: PLC0415 - only the demo needs it here

    assert r.stack is not None
    network = r.stack.app.network
    if network is None:
        return False
    at = network.center
    with httpx.Client(
        base_url=r.stack.url + "/api/v1",
        headers={"Authorization": f"Bearer {r.stack.admin_token}"},
        timeout=30,
    ) as admin:
        got = admin.post(
            "/units",
            json={
                "id": CREW_UNIT,
                "callsign": "Medic H1 (you)",
                "type": "medic_als",
                "station": "phone",
                "location": {"lat": at.lat, "lon": at.lon},
            },
        )
        if got.status_code != 201:
            return False
    r.add_login(CREW_UNIT.lower(), Role.FIELD_UNIT, password)
    return True


def run_demo(  # noqa: PLR0915 - the demo's steps, in order, in one place
    options: DemoOptions, *, say: Callable[[str], None] = print
) -> RunResult:
    """Run the demo until Ctrl-C (or `duration_s` wall seconds); return the run's result."""
    schema_lines = warning_demo.use_shared_schemas()  # before the settings are read
    given = load_scenario(options.scenario)
    scenario = busy(given) if options.scenario is None else given
    with _data_dir(options.data_dir) as data_dir:
        run = SimRun(
            scenario,
            RunOptions(
                seed=options.seed,
                speed=options.speed,
                manual=options.manual,
                data_dir=data_dir,
                port=options.port,
                mqtt_host=options.mqtt_host,
                mqtt_port=options.mqtt_port,
                progress=False,
                # Tokens live in simulated time: keep a login valid for a day of wall time.
                session_hours=min(720.0, 24.0 * options.speed),
            ),
        )
        timer = (
            threading.Timer(options.duration_s, run.stop_event.set)
            if options.duration_s is not None
            else None
        )
        password = secrets.token_urlsafe(12)
        audio: list[tuple[Worker, threading.Thread]] = []

        def ready(r: SimRun) -> None:
            assert r.stack is not None
            r.add_login(DEMO_USER, Role.DISPATCHER, password)
            crew = _add_crew_unit(r, password)
            if options.audio:  # one acoustic worker on a recording, beside the simulator
                audio.append(_start_audio(r, options))
            url = r.stack.url + "/"
            say("")
            say(f"Vigil demo: {scenario.name}")
            say(f"  open        {url}")
            say(f"  login       {DEMO_USER} / {password}   (role: dispatcher)")
            if crew:
                say(
                    f"  field unit  {r.stack.url}/field/   login {CREW_UNIT} / {password}\n"
                    f"              (a phone on this network plays unit {CREW_UNIT}'s crew)"
                )
            say(f"  admin token {r.stack.admin_token}")
            say(f"  API docs    {r.stack.url}/docs")
            say(f"  data dir    {data_dir}")
            started = warning_demo.start(r.stack.url, r.add_login, password, _rise_at(scenario))
            for line in [*started, *schema_lines]:
                say(line)
            if audio:
                say(f"  microphone  {audio_demo.MIC_ID}: acoustic worker on a city recording")
            mode = "you dispatch (--manual)" if options.manual else "the recommender dispatches"
            say(
                f"  time        {options.speed:g}x real time from {scenario.start:%a %H:%M}; {mode}"
            )
            say("  Ctrl-C stops everything.")
            say("")
            if timer is not None:
                timer.start()
            if options.open_browser and has_display():
                webbrowser.open(url)

        def done(r: SimRun, result: RunResult) -> None:
            say(result.summary.render())
            if not r.stop_event.is_set():
                say("The simulated day is over; Vigil keeps serving until Ctrl-C.")
                r.stop_event.wait()

        try:
            with _stop_on_signals(run.stop_event.set):
                result = run.run(
                    on_stage=lambda m: say(f"... {m}"),
                    on_ready=_with_camera(ready, options, say),
                    on_done=done,
                )
        finally:
            if timer is not None:
                timer.cancel()
            for worker, thread in audio:
                worker.stop()
                thread.join(15)
        say("Vigil demo stopped.")
        return result


def _with_camera(
    ready: Callable[[SimRun], None], options: DemoOptions, say: Callable[[str], None]
) -> Callable[[SimRun], None]:
    """Return `ready`, followed by starting the camera worker when a clip was given."""

    def both(r: SimRun) -> None:
        ready(r)
        try:
            _start_camera(r, options, say)
        except (VigilError, OSError) as err:  # the demo goes on without its camera
            say(f"  camera      not started: {err}")

    return both


def _start_camera(r: SimRun, options: DemoOptions, say: Callable[[str], None]) -> None:
    """Run one camera worker on `options.video` (looped, real time) until the run stops."""
    if options.video is None:
        return
    from vigil.video.config import CamerasFile  # noqa: PLC0415 - only when a clip is given
    from vigil.video.worker import Publisher, SnapshotUploader, Worker, register  # noqa: PLC0415

    assert r.stack is not None and options.video is not None
    os.environ["VIGIL_DEMO_VIDEO_TOKEN"] = r.stack.admin_token
    cams = CamerasFile.model_validate(
        {
            "mqtt": {
                "host": options.mqtt_host,
                "port": options.mqtt_port,
                "site": r.run_site,
                "client_id": f"vigil-video-{r.run_site}",
            },
            "registration": {"url": r.stack.url, "token_env": "VIGIL_DEMO_VIDEO_TOKEN"},
            "snapshots": {"dir": str(r.options.data_dir / "video-snapshots"), "retention_days": 1},
            "cameras": [
                {
                    "id": "cam-senate-square",
                    "label": "Senate Square (demo clip)",
                    "source": str(options.video),
                    "lat": 60.1694,
                    "lon": 24.9526,
                    "loop": True,
                    "fps": 5,
                    "interval_s": 10,
                    "zones": [
                        {
                            "name": "steps",
                            "polygon": [[0, 100], [480, 100], [480, 235], [0, 235]],
                            "place": "senate-square",
                            "restricted": [{"start": "00:00", "end": "23:59"}],
                        }
                    ],
                }
            ],
        }
    )
    tokens = register(cams)
    uploader = SnapshotUploader(r.stack.url, tokens)
    pub = Publisher(options.mqtt_host, options.mqtt_port, r.run_site, cams.mqtt.client_id)
    worker = Worker(
        cams,
        publish=pub.publish,
        upload=uploader,
        describe=uploader.describe,
        now=r.stack.app.clock.now,
    )
    worker.stop = r.stop_event

    def loop() -> None:
        try:
            worker.run()
        finally:
            pub.close()
            uploader.close()

    thread = threading.Thread(target=loop, name="demo-camera", daemon=True)
    thread.start()
    say(f"  camera      cam-senate-square analyses {options.video.name} (blurred snapshots)")
