"""`vigil sim run|check` and the `vigil demo` command."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from vigil.core.errors import ConfigError, VigilError
from vigil.incidents.catalogue import load_catalogue
from vigil.sim.scenario import check_scenario, load_scenario, parse_duration

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
        check_scenario(scenario, load_catalogue())
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
            ),
            say=typer.echo,
        )
    except VigilError as err:
        _fail(err)
    except OSError as err:
        _fail(ConfigError(f"cannot start the demo: {err}"))
