"""`vigil audio`: the acoustic worker, one-file analysis and calibration."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from vigil.core.errors import VigilError

app = typer.Typer(no_args_is_help=True)


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("run")
def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", exists=True, dir_okay=False, help="MICS.yaml")
    ],
) -> None:
    """Run the acoustic worker: levels and events of every microphone to Vigil over MQTT."""
    from vigil.audio.settings import load_mics  # noqa: PLC0415 - keeps `vigil --help` fast
    from vigil.audio.worker import Worker  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        worker = Worker(load_mics(config))
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        worker.run()
    except VigilError as err:
        _fail(err)
    for mic, h in worker.health.items():
        typer.echo(f"{mic}: {h.state}, {h.frames} frames, {h.events} events, {h.readings} readings")


@app.command("analyze")
def analyze(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="WAV/FLAC recording.")],
    full_scale_db: Annotated[
        float,
        typer.Option("--full-scale-db", help="SPL (dB) of a full-scale sine on this recording."),
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    period_s: Annotated[
        float, typer.Option("--period-s", min=1, help="LAeq/L10/L50/L90 period (60, 900, 3600).")
    ] = 60.0,
) -> None:
    """Print levels per second and detected events of one recording (no broker needed)."""
    from vigil.audio.analyze import analyze_file  # noqa: PLC0415

    try:
        result = analyze_file(file, full_scale_db=full_scale_db, report_s=period_s)
    except VigilError as err:
        _fail(err)
    report = result.to_json()
    for s in result.seconds:
        typer.echo(
            f"t={s.t:7.1f}s  LAeq {s.laeq:5.1f}  LAFmax {s.lafmax:5.1f}  LCpeak {s.lcpeak:5.1f} dB"
        )
    for e in result.events:
        typer.secho(
            f"t={e.t:7.2f}s  {e.cls.value:16} confidence {e.confidence:.2f}  LCpeak {e.lcpeak} dB",
            fg="yellow",
        )
    for r in result.reports:
        typer.echo(
            f"period t={r.t:.0f}s {r.duration:.0f}s: LAeq {r.laeq:.1f}  L10 {r.l10:.1f}  "
            f"L50 {r.l50:.1f}  L90 {r.l90:.1f}  LAFmax {r.lafmax:.1f}  LCpeak {r.lcpeak:.1f}"
        )
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=1) + "\n", "utf-8")
        typer.echo(f"wrote {json_out}")


@app.command("calibrate")
def calibrate(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Calibrator tone recording.")
    ],
    reference_db: Annotated[
        float, typer.Option("--reference-db", help="The calibrator's level.")
    ] = 94.0,
) -> None:
    """Print the full_scale_db that makes a recorded calibrator tone read its level."""
    import soundfile as sf  # noqa: PLC0415

    from vigil.audio.meter import Calibration  # noqa: PLC0415

    x, _ = sf.read(str(file), dtype="float64", always_2d=True)
    try:
        cal = Calibration.from_reference_tone(x.mean(axis=1), reference_db=reference_db)
    except ValueError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    typer.echo(f"full_scale_db: {cal.full_scale_db:.2f}")
