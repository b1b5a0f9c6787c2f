"""Helpers for building tiny OSM files in geo tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Way = tuple[list[int], dict[str, str]]


def write_osm(
    path: Path, nodes: dict[int, tuple[float, float]], ways: list[Way], *, extra: str = ""
) -> Path:
    """Write a tiny .osm XML file with the given nodes (id -> lat, lon) and ways."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lat, lon) in nodes.items():
        lines.append(f'  <node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for i, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{i}" version="1">')
        lines.extend(f'    <nd ref="{r}"/>' for r in refs)
        lines.extend(f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append("  </way>")
    lines.append(extra)
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


OsmWriter = Callable[..., Path]
