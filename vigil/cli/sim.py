"""`vigil sim run|check|fit|validate|whatif` and the `vigil demo` command."""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from vigil.core.errors import ConfigError, VigilError
from vigil.incidents.catalogue import load_catalogue
from vigil.sim.scenario import check_scenario, load_scenario, parse_duration

if TYPE_CHECKING:
    from vigil.geo.network import RoadNetwork
    from vigil.geo.settings import GeoSettings
    from vigil.sim.fit import FitOptions
    from vigil.sim.fitted import Station

app = typer.Typer(
    help="City simulator: drives Vigil through its real inputs.", no_args_is_help=True
)

ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", "-s", help="Scenario file (YAML); default: central Helsinki."),
]


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _seconds(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint=option) from err


@app.command("check")
def check(file: Annotated[Path, typer.Argument(help="Scenario file to validate.")]) -> None:
    """Validate a scenario file and print what it holds."""
    try:
        scenario = load_scenario(file)
        check_scenario(scenario, load_catalogue(scenario.city.catalogue))
    except VigilError as err:
        _fail(err)
    units = sum(f.count for f in scenario.fleet)
    devices = sum(d.count for d in scenario.devices)
    typer.echo(
        f"{file}: ok — {scenario.name!r}: {units} units, {devices} devices, "
        f"{scenario.demand.calls_per_hour:g} calls/h, {len(scenario.situations)} situations, "
        f"{scenario.duration / 3600:g} h from {scenario.start.isoformat()}"
    )


@app.command("run")
def run(
    *,
    scenario: ScenarioOpt = None,
    speed: Annotated[
        float | None, typer.Option(help="Simulated seconds per wall second (e.g. 60).", min=0.01)
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="As fast as the machine allows (the default).")
    ] = False,
    until: Annotated[
        str | None, typer.Option(help="Stop after this much simulated time, e.g. 2h or 24h.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: one seed, one day.")] = 1,
    manual: Annotated[
        bool, typer.Option(help="Leave dispatching to a human in the UI (needs --speed).")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: a temporary one).")
    ] = None,
    port: Annotated[int, typer.Option(help="HTTP port (0 = any free port).")] = 0,
    mqtt_host: Annotated[str, typer.Option(help="MQTT broker host.")] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary as JSON here.")
    ] = None,
    plot_out: Annotated[
        Path | None,
        typer.Option("--plot", help="Also plot the response-interval distributions (PNG)."),
    ] = None,
) -> None:
    """Run a scenario against an in-process Vigil and print the summary."""
    from vigil.sim.runner import RunOptions, SimRun  # noqa: PLC0415 - keeps --help fast

    if fast and speed is not None:
        raise typer.BadParameter("give --speed or --fast, not both", param_hint="--speed")
    if manual and speed is None:
        raise typer.BadParameter(
            "--manual needs --speed (a human cannot keep up)", param_hint="--manual"
        )
    until_s = _seconds(until, "--until")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        loaded = load_scenario(scenario)
        with tempfile.TemporaryDirectory(prefix="vigil-sim-") as tmp:
            sim = SimRun(
                loaded,
                RunOptions(
                    seed=seed,
                    speed=speed,
                    until_s=until_s,
                    manual=manual,
                    data_dir=data_dir or Path(tmp),
                    port=port,
                    mqtt_host=mqtt_host,
                    mqtt_port=mqtt_port,
                    progress=True,
                ),
            )

            def ready(r: SimRun) -> None:
                if speed is not None and r.stack is not None:
                    typer.echo(f"Vigil on {r.stack.url}/  (admin token {r.stack.admin_token})")

            result = sim.run(on_stage=lambda m: typer.echo(f"... {m}", err=True), on_ready=ready)
    except VigilError as err:
        _fail(err)
    except OSError as err:
        _fail(ConfigError(f"cannot run the simulation: {err}"))
    typer.echo(result.summary.render())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.summary.to_json(), indent=2) + "\n", "utf-8")
    if plot_out is not None:
        from vigil.sim.plot import plot_intervals  # noqa: PLC0415 - matplotlib is slow to import

        plot_intervals(result.summary, plot_out, title=loaded.name)
        typer.echo(f"plot written to {plot_out}")


def demo(
    *,
    scenario: ScenarioOpt = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.", min=1)] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: a temporary one, removed after).")
    ] = None,
    port: Annotated[int, typer.Option(help="HTTP port (0 = any free port).")] = 8080,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many wall-clock seconds.", min=1)
    ] = None,
    manual: Annotated[bool, typer.Option(help="You dispatch in the UI; no auto-dispatch.")] = False,
    browser: Annotated[bool, typer.Option(help="Open the browser when there is a display.")] = True,
    mqtt_host: Annotated[str, typer.Option(help="MQTT broker host.")] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    video: Annotated[
        Path | None,
        typer.Option(
            help="A real clip for one camera worker (default: ../shared/data/video/"
            "worker-zone-detection.gif when present; 'none' to skip).",
        ),
    ] = None,
) -> None:
    """Run Vigil with a simulated evening in central Helsinki and open it in the browser."""
    from vigil.sim.demo import DemoOptions, run_demo  # noqa: PLC0415 - keeps --help fast

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        run_demo(
            DemoOptions(
                data_dir=data_dir,
                scenario=scenario,
                speed=speed,
                seed=seed,
                port=port,
                duration_s=duration,
                manual=manual,
                open_browser=browser,
                mqtt_host=mqtt_host,
                mqtt_port=mqtt_port,
                video=_demo_clip(video),
            ),
            say=typer.echo,
        )
    except VigilError as err:
        _fail(err)
    except OSError as err:
        _fail(ConfigError(f"cannot start the demo: {err}"))


def _demo_clip(given: Path | None) -> Path | None:
    """The clip the demo's camera worker analyses: the one given, else the shared one."""
    if given is not None:
        return None if str(given) == "none" else given
    shared = Path.cwd().parent / "shared" / "data" / "video" / "worker-zone-detection.gif"
    return shared if shared.is_file() else None


# ------------------------------------------------------------------ fitted cities

HistoryOpt = Annotated[
    Path,
    typer.Option(
        "--history",
        exists=True,
        help="The city's CAD export (imported into a temporary analysis store) or an "
        "analysis store folder made by `vigil history import`.",
    ),
]
FormatOpt = Annotated[
    str, typer.Option("--format", help="Export format: sffd, or a column-mapping YAML.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", exists=True, help="City settings (YAML): road network."),
]
OsmOpt = Annotated[
    Path | None, typer.Option("--osm", exists=True, help="OSM file (overrides --config).")
]
CountryOpt = Annotated[
    str | None,
    typer.Option(
        "--country",
        help="ISO country code (overrides geo.country): its road defaults are the prior "
        "when the travel model is calibrated on the history.",
    ),
]
StationsOpt = Annotated[
    Path, typer.Option("--stations", exists=True, help="Stations (CSV station,name,lat,lon).")
]
TzOpt = Annotated[str, typer.Option("--tz", help="The city's time zone, e.g. America/Los_Angeles.")]
DateOpt = Annotated[str | None, typer.Option(help="A local date, YYYY-MM-DD.")]
MAX_STATION_SNAP_M = 250.0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise typer.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from err


def _day(text: str | None, tz: ZoneInfo, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        d = date.fromisoformat(text)
    except ValueError as err:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from err
    return datetime(d.year, d.month, d.day, tzinfo=tz)


@contextmanager
def _history(path: Path, fmt: str, tz: str) -> Iterator[Any]:
    """Yield a DuckDB connection with the ``responses`` view of a file or a store."""
    from vigil.history.store import HistoryStore  # noqa: PLC0415 - DuckDB is heavy

    if path.is_dir():
        yield HistoryStore(path).connect()
        return
    with tempfile.TemporaryDirectory(prefix="vigil-history-") as tmp:
        store = HistoryStore(Path(tmp))
        report = store.import_file(path, fmt, tz=tz, progress=True)
        typer.echo(f"imported {report.imported} responses ({report.rejected} rejected)", err=True)
        yield store.connect()


def _city(
    config: Path | None, osm: Path | None, stations_file: Path, country: str | None = None
) -> tuple[RoadNetwork, Path, list[Station], list[Station], GeoSettings]:
    """Return the road network, its OSM file, the stations on it, every station, geo."""
    from vigil.config import load_settings  # noqa: PLC0415
    from vigil.geo.network import load_network  # noqa: PLC0415 - heavy
    from vigil.sim.fitted import inside, read_stations  # noqa: PLC0415

    settings = load_settings(config)
    geo = settings.geo if osm is None else settings.geo.model_copy(update={"osm_file": osm})
    if country is not None:
        geo = geo.model_copy(update={"country": country.upper()})
    if geo.osm_file is None:
        raise ConfigError("a fitted city needs its own OSM file (--osm or geo.osm_file)")
    network = load_network(geo, progress=True)
    every = read_stations(stations_file)
    stations = inside(every, network, MAX_STATION_SNAP_M)
    if not stations:
        raise ConfigError(f"no station of {stations_file} lies on the road network")
    return network, geo.osm_file, stations, every, geo


def _options(
    conn: Any,
    tz: str,
    bbox: tuple[float, float, float, float],
    start: datetime | None,
    end: datetime | None,
) -> FitOptions:
    from vigil.sim.fit import FitOptions  # noqa: PLC0415

    first, last = conn.execute(
        "select min(received_at), max(received_at) from responses"
    ).fetchone()
    if first is None:
        raise ConfigError("the history holds no responses")
    zone = ZoneInfo(tz)
    return FitOptions(
        start=start or first.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0),
        end=end or (last.astimezone(zone) + timedelta(seconds=1)),
        tz=tz,
        bbox=bbox,
    )


@app.command("fit")
def fit(
    *,
    history: HistoryOpt,
    stations: StationsOpt,
    tz: TzOpt,
    out: Annotated[Path, typer.Option("--out", help="Fitted scenario to write (YAML).")],
    fmt: FormatOpt = "sffd",
    config: ConfigOpt = None,
    osm: OsmOpt = None,
    country: CountryOpt = None,
    since: Annotated[str | None, typer.Option("--from", help="First local day fitted.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last local day fitted.")] = None,
    duration: Annotated[str, typer.Option(help="Length of the written scenario.")] = "24h",
) -> None:
    """Fit demand, mix, run cards, fleet and every interval from the city's records."""
    from vigil.sim.fit import diagnostics_dict, fit_city  # noqa: PLC0415
    from vigil.sim.fitted import (  # noqa: PLC0415
        area_of,
        calibrate_travel,
        extent,
        travel_eta,
        write_city,
    )

    zone = _zone(tz)
    start, end_day = _day(since, zone, "--from"), _day(until, zone, "--to")
    end = end_day + timedelta(days=1) if end_day else None
    try:
        network, osm_file, found, every, geo = _city(config, osm, stations, country)
        with _history(history, fmt, tz) as conn:
            options = dataclasses.replace(
                _options(conn, tz, extent(network), start, end),
                area_stations=area_of(every, found),
            )
            typer.echo(f"fitting on {options.start:%Y-%m-%d} .. {options.end:%Y-%m-%d}", err=True)
            if geo.travel_model is None and geo.country is not None:
                # No fitted travel model yet: calibrate one on the same records, so the
                # simulated drives are the city's (the factor left is the residual).
                model = calibrate_travel(conn, network, found, options, geo, name=out.stem)
                model_file = out.with_name(f"{out.stem}.travel.json")
                model.save(model_file)
                geo = geo.model_copy(update={"travel_model": model_file.resolve()})
                typer.echo(f"... travel model {model_file.name}: {model.describe()}", err=True)
            fitted = fit_city(
                conn,
                options,
                stations={s.id: s.location for s in found},
                eta=travel_eta(network, geo),
                progress=lambda m: typer.echo(f"... {m}", err=True),
            )
        files = write_city(
            fitted,
            options,
            out,
            name=f"Fitted city ({out.stem})",
            osm_file=osm_file.resolve(),
            stations=found,
            start=options.end,
            duration_s=parse_duration(duration),
            geo=geo,
        )
    except VigilError as err:
        _fail(err)
    d = diagnostics_dict(fitted, options)["demand"]
    typer.echo(
        f"{files.scenario}: {d['calls']} calls over {d['hours']} h "
        f"({d['calls_per_hour']:.2f}/h, model {d['model']}), {len(fitted.types)} incident "
        f"kinds, {sum(line['count'] for line in fitted.fleet)} units at {len(found)} stations"
    )
    typer.echo(f"catalogue {files.catalogue.name}, diagnostics {files.diagnostics.name}")


@app.command("validate")
def validate(
    *,
    history: HistoryOpt,
    stations: StationsOpt,
    tz: TzOpt,
    fmt: FormatOpt = "sffd",
    config: ConfigOpt = None,
    osm: OsmOpt = None,
    country: CountryOpt = None,
    since: Annotated[str | None, typer.Option("--from", help="First local day used.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last local day used.")] = None,
    weeks: Annotated[
        int, typer.Option(help="Hold out the last N weeks (fit on the rest), simulate them.")
    ] = 0,
    days: Annotated[int, typer.Option(help="Hold out the last N days instead.")] = 0,
    leave_one_day_out: Annotated[
        bool, typer.Option(help="Every day in turn: fit on the others, simulate it.")
    ] = False,
    replications: Annotated[int, typer.Option(min=1, help="Simulations per held-out day.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    plot_out: Annotated[Path | None, typer.Option("--plot", help="Plot real vs simulated.")] = None,
) -> None:
    """Simulate held-out days and compare their intervals with what really happened."""
    from vigil.sim.fit import FitOptions  # noqa: PLC0415
    from vigil.sim.fitted import extent, holdout_days, validate_holdout  # noqa: PLC0415
    from vigil.sim.validate import plot_report  # noqa: PLC0415

    if sum([weeks > 0, days > 0, leave_one_day_out]) != 1:
        raise typer.BadParameter("give exactly one of --weeks, --days, --leave-one-day-out")
    zone = _zone(tz)
    start, end_day = _day(since, zone, "--from"), _day(until, zone, "--to")
    end = end_day + timedelta(days=1) if end_day else None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        network, osm_file, found, every, geo = _city(config, osm, stations, country)
        with _history(history, fmt, tz) as conn, tempfile.TemporaryDirectory() as tmp:
            options = _options(conn, tz, extent(network), start, end)
            last_day = options.end.astimezone(zone).replace(hour=0, minute=0, second=0)
            if options.end > last_day:
                last_day += timedelta(days=1)
            if leave_one_day_out:
                windows = holdout_days(options.start, options.end)
                base = options
            else:
                held = timedelta(weeks=weeks) if weeks else timedelta(days=days)
                windows = holdout_days(max(options.start, last_day - held), options.end)
                base = FitOptions(
                    start=options.start,
                    end=options.end,
                    tz=tz,
                    bbox=options.bbox,
                    holdout=((windows[0][0], windows[-1][1]),),
                )
            result = validate_holdout(
                conn,
                base=base,
                windows=windows,
                network=network,
                osm_file=osm_file.resolve(),
                stations=found,
                geo=geo,
                work_dir=Path(tmp),
                all_stations=every,
                replications=replications,
                seed=seed,
                say=lambda m: typer.echo(f"... {m}", err=True),
            )
    except VigilError as err:
        _fail(err)
    typer.echo(result.report.render())
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {**result.report.to_json(), "folds": result.folds}
        json_out.write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    if plot_out is not None:
        plot_report(result.report, result.real, result.sim, plot_out)
        typer.echo(f"plot written to {plot_out}")


@app.command("whatif")
def whatif(
    *,
    scenario: Annotated[Path, typer.Option("--scenario", "-s", exists=True, help="Scenario.")],
    close_station: Annotated[
        str | None, typer.Option(help="Close this station (its units are gone).")
    ] = None,
    demand: Annotated[float, typer.Option(help="Multiply call demand by this.", min=0)] = 1.0,
    add_station: Annotated[
        str | None,
        typer.Option(
            help="Add a station: ID,LAT,LON,UNIT_TYPE,UNITS (e.g. 99,37.75,-122.42,engine,1)."
        ),
    ] = None,
    replications: Annotated[int, typer.Option(min=2, help="Runs with and without.")] = 5,
    independent: Annotated[
        bool, typer.Option(help="Independent seeds instead of common random numbers.")
    ] = False,
    hours: Annotated[float | None, typer.Option(min=0.5, help="Simulate this long.")] = None,
    seed: Annotated[int, typer.Option(help="First random seed.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
) -> None:
    """Estimate what one change does to p90 total response time, with a 95% CI."""
    from vigil.sim.fitted import Change, what_if  # noqa: PLC0415

    added = None
    if add_station is not None:
        parts = add_station.split(",")
        try:
            sid, lat, lon, utype, units = parts
            added = (sid.strip(), float(lat), float(lon), utype.strip(), int(units))
        except ValueError as err:
            raise typer.BadParameter(
                "expected ID,LAT,LON,UNIT_TYPE,UNITS", param_hint="--add-station"
            ) from err
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        loaded = load_scenario(scenario)
        if hours is not None:
            loaded = loaded.model_copy(update={"duration": hours * 3600})
        result = what_if(
            loaded,
            Change(close_station=close_station, demand_factor=demand, add_station=added),
            replications=replications,
            paired=not independent,
            seed=seed,
            say=lambda m: typer.echo(f"... {m}", err=True),
        )
    except VigilError as err:
        _fail(err)
    low, high = result.ci95
    typer.echo(
        f"{result.change}: p90 total response changes by {result.effect_s:+.0f} s "
        f"(95% CI {low:+.0f} .. {high:+.0f} s, {result.replications} "
        f"{'paired' if result.paired else 'independent'} replications)"
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=2) + "\n", "utf-8")
