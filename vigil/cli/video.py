"""`vigil video`: run the camera analytics worker, or try the pipeline on one file."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from vigil.core.errors import VigilError

app = typer.Typer(help="Camera analytics: run the worker, analyse a file.", no_args_is_help=True)


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from err


@app.command("analyze")
def analyze_command(  # noqa: PLR0917 - typer maps each parameter to an option
    file: Annotated[Path, typer.Argument(help="Video file or image folder.", exists=True)],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the report.")],
    zones: Annotated[
        Path | None, typer.Option("--zones", help="Zones/lines YAML (default: whole frame).")
    ] = None,
    fps: Annotated[float, typer.Option(help="Frames analysed per second.")] = 5.0,
    width: Annotated[int, typer.Option(help="Motion analysis width, pixels.")] = 320,
    start: Annotated[
        str | None, typer.Option(help="Wall time of the first frame (ISO 8601), for schedules.")
    ] = None,
) -> None:
    """Run the whole pipeline on a file without a broker; write the JSON report."""
    from vigil.video.analyze import analyze  # noqa: PLC0415 - keeps `vigil --help` fast
    from vigil.video.config import DetectorIn, load_zones  # noqa: PLC0415
    from vigil.video.pipeline import PipelineConfig  # noqa: PLC0415

    try:
        zf = load_zones(zones) if zones is not None else None
        at = datetime.fromisoformat(start) if start else datetime(2026, 1, 1, 12, tzinfo=UTC)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        config = PipelineConfig.of(
            "analyze",
            zones=zf.zones if zf else [],
            lines=zf.lines if zf else [],
            homography=zf.homography if zf else None,
            metres_per_pixel=zf.metres_per_pixel if zf else None,
            detector=zf.detector if zf else DetectorIn(),
            fps=fps,
            width=width,
            start=at,
        )
        report = analyze(file, config)
    except VigilError as err:
        _fail(err)
        return
    json_out.write_text(json.dumps(report, indent=1), "utf-8")
    t = report["tracks"]
    typer.echo(
        f"{report['frames']['analysed']} frames analysed; tracks: "
        + ", ".join(f"{k} {v}" for k, v in t.items())
        + f"; {len(report['events'])} events -> {json_out}"
    )


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="CAMERAS.yaml.", exists=True)],
) -> None:
    """Run the worker: every camera in the file, events to Vigil over MQTT, until Ctrl-C."""
    from vigil.video.config import load_cameras  # noqa: PLC0415
    from vigil.video.worker import (  # noqa: PLC0415
        Publisher,
        SnapshotUploader,
        Worker,
        register,
    )

    try:
        cams = load_cameras(config)
        tokens = register(cams)
    except VigilError as err:
        _fail(err)
        return
    uploader = None
    if cams.registration is not None:
        typer.echo(f"registered {len(tokens)} devices with {cams.registration.url}")
        uploader = SnapshotUploader(cams.registration.url, tokens)
    pub = Publisher(cams.mqtt.host, cams.mqtt.port, cams.mqtt.site, cams.mqtt.client_id)
    worker = Worker(
        cams,
        publish=pub.publish,
        upload=uploader if uploader is not None and cams.snapshots.upload else None,
        describe=None if uploader is None else uploader.describe,
    )

    def handler(_signum: int, _frame: FrameType | None) -> None:
        worker.stop.set()

    old = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        typer.echo(f"analysing {len(cams.cameras)} cameras; Ctrl-C stops")
        stats = worker.run()
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
        pub.close()
        if uploader is not None:
            uploader.close()
    typer.echo(
        f"{stats.frames} frames, {stats.events} behaviour events, {stats.readings} readings "
        f"published, {stats.snapshots} blurred snapshots; {stats.cpu_s:.1f} CPU-s"
    )
