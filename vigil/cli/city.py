"""`vigil city …`: onboard a city from its OSM file, stations and units."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.city.init import init_city
from vigil.city.stations import place, read_stations, read_units
from vigil.config import load_settings
from vigil.core.errors import TransitionError, VigilError
from vigil.geo.network import load_network

app = typer.Typer(help="Onboard a city: stations, units, config.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="City settings (YAML).", exists=True)
]


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def init(  # noqa: PLR0917 - typer maps each option to a parameter
    osm: Annotated[Path, typer.Option("--osm", exists=True, help="OSM file (.osm or .osm.pbf).")],
    stations: Annotated[
        Path, typer.Option("--stations", exists=True, help="Stations (CSV or GeoJSON).")
    ],
    units: Annotated[Path, typer.Option("--units", exists=True, help="Units (YAML).")],
    out: Annotated[Path, typer.Option("--out", help="City config to write (YAML).")],
    country: Annotated[str, typer.Option(help="ISO 3166 country code (default speeds).")],
    timezone: Annotated[str, typer.Option("--tz", help="IANA time zone of the city.")],
    name: Annotated[str, typer.Option(help="City name.")] = "",
    data_dir: Annotated[Path, typer.Option(help="Data directory of the deployment.")] = Path("var"),
    cache_dir: Annotated[Path | None, typer.Option(help="Graph cache folder.")] = None,
    max_snap_m: Annotated[
        float, typer.Option(help="Farthest a station or unit home may be from a road.")
    ] = 250.0,
    inside_only: Annotated[
        bool,
        typer.Option(help="Leave out (and list) stations outside the extract's bounding box."),
    ] = False,
) -> None:
    """Build the road graph, snap stations and units, and write a working city config."""
    try:
        r = init_city(
            osm=osm,
            stations=stations,
            units=units,
            out=out,
            name=name or osm.stem,
            country=country,
            timezone=timezone,
            data_dir=data_dir,
            cache_dir=cache_dir,
            max_snap_distance_m=max_snap_m,
            inside_only=inside_only,
            progress=True,
        )
    except VigilError as err:
        _fail(err)
    g = r.graph
    typer.echo(
        f"road graph: {g.nodes:,} nodes, {g.edges:,} edges kept; {g.components_dropped:,} "
        f"smaller components dropped ({g.nodes_dropped:,} nodes); "
        f"turn restrictions {g.turn_restrictions}"
    )
    if r.outside:
        typer.echo(f"left out, outside the extract ({len(r.outside)}): {', '.join(r.outside)}")
    typer.echo(f"{len(r.stations)} stations snapped to the road:")
    for s in sorted(r.stations, key=lambda s: -s.distance_m):
        typer.echo(f"  {s.id:>6}  {s.distance_m:6.1f} m  {s.name}")
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(r.unit_types.items()))
    worst = max((u.distance_m for u in r.units), default=0.0)
    typer.echo(f"{len(r.units)} units ({kinds}); farthest home {worst:.1f} m from a road")
    typer.echo(f"wrote {r.config}: `vigil serve --config {r.config}`")


@app.command("load-units")
def load_units(config: ConfigOpt) -> None:
    """Register the units file's units in the store (units already there are kept)."""
    from vigil.app import build  # noqa: PLC0415 - keeps `vigil --help` fast

    settings = load_settings(config)
    if settings.city.units is None or settings.city.stations is None:
        typer.echo("error: the config has no city.units or city.stations", err=True)
        raise typer.Exit(2)
    try:
        stations = read_stations(settings.city.stations)
        units = read_units(settings.city.units, stations)
        network = load_network(settings.geo, progress=True)
        if settings.city.stations_inside_extract:
            b = network.bbox
            inside = {
                s.id
                for s in stations
                if b.south <= s.location.lat <= b.north and b.west <= s.location.lon <= b.east
            }
            left = [u.id for u in units if u.station is not None and u.station not in inside]
            if left:
                typer.echo(f"left out, based outside the extract: {', '.join(left)}")
            units = [u for u in units if u.id not in left]
        place(network, [(u.id, u.callsign, u.home) for u in units], what="unit")
    except VigilError as err:
        _fail(err)
    app_ = build(settings, network=network)
    added = kept = 0
    try:
        for u in units:
            try:
                outcome = app_.cad.register_unit(
                    actor="cli",
                    unit_id=u.id,
                    callsign=u.callsign,
                    type=u.type,
                    station=u.station,
                    location=u.home,
                    command_id=f"city-unit-{u.id}",
                )
                if outcome.replayed:
                    kept += 1
                else:
                    added += 1
            except TransitionError:
                kept += 1
            except VigilError as err:
                _fail(err)
    finally:
        app_.close()
    typer.echo(f"registered {added} units; {kept} were already there")
