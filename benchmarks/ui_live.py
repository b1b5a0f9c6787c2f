"""Command-centre UI under load: first render and live-change delay in headless Chromium.

A real server (uvicorn, embedded store, the Helsinki road graph) holds 1,000 open
incidents and 300 units that keep moving (AVL fixes, each unit every 5 s). The
browser (Debian's Chromium, software WebGL) opens the command centre with a
dispatcher session; we measure

* ``first_render_ms``: navigation start -> every queue row in the DOM and every
  incident and unit drawn on the map (checked with ``queryRenderedFeatures``), from
  the page's own performance marks; the median of ``--loads`` page loads, each in
  a fresh context. The streets are drawn after that: ``basemap_ready_ms`` and
  ``basemap_browser_cpu_s`` say when they are on screen too and at what cost;
* ``first_render_browser_cpu_s``: CPU seconds of every browser process until then
  (the figure to compare on a shared machine; ``--profile`` splits it by process
  and thread and prints the page's main-thread CPU profile);
* ``live_p50_ms`` / ``live_p99_ms``: while 20 changes per second are committed
  on the server (incident updates whose new description carries a marker), the
  delay from the commit returning on the server to the marker's text appearing
  in the queue's DOM (a MutationObserver stamps it; both clocks are this
  machine's wall clock).

Usage: ``python benchmarks/ui_live.py [--loads 3] [--seconds 30] [--rate 20]``; writes
benchmarks/results/ui_live.json (``--first-only``: the first render alone, nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import sync_playwright

# Run as a script (python benchmarks/ui_live.py): the repo root holds `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, LiveServer, road_points
from vigil.audit.roles import Role
from vigil.cad.service import NewCall
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.events import IncidentOpened
from vigil.web.static import built

RESULTS = Path(__file__).resolve().parent / "results" / "ui_live.json"
TYPES = [
    "structure_fire",
    "medical",
    "traffic_collision",
    "disturbance",
    "welfare_check",
    "alarm_fire",
    "crime_in_progress",
    "infrastructure",
]
UNIT_TYPES = ["engine", "ladder", "medic_als", "medic_bls", "patrol", "rescue", "chief"]

OBSERVER = """
window.__seen = {};
window.__long = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__long.push([Math.round(e.startTime), Math.round(e.duration)]);
  }
}).observe({type: 'longtask', buffered: true});
window.__arrived = {};
const addEL = EventSource.prototype.addEventListener;
EventSource.prototype.addEventListener = function (type, fn, opts) {
  if (type !== 'incident.updated') return addEL.call(this, type, fn, opts);
  return addEL.call(this, type, (ev) => {
    const hit = /mk(\\d+)k/.exec(ev.data);
    if (hit && !(hit[1] in window.__arrived)) window.__arrived[hit[1]] = Date.now();
    fn(ev);
  }, opts);
};
const startObserver = () => {
  const list = document.getElementById('queue-list');
  if (!list) { setTimeout(startObserver, 50); return; }
  new MutationObserver((muts) => {
    const now = Date.now();
    for (const m of muts) for (const n of m.addedNodes) {
      const text = n.textContent || '';
      for (const hit of text.matchAll(/mk(\\d+)k/g)) {
        if (!(hit[1] in window.__seen)) window.__seen[hit[1]] = now;
      }
    }
  }).observe(list, {childList: true, subtree: true});
};
startObserver();
"""


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def seed(server: LiveServer, incidents: int, units: int) -> list[IncidentId]:
    """Register units and open incidents through the CAD service; return incident ids."""
    app = server.app
    points = road_points(server.network, units + incidents, seed=1)
    for i in range(units):
        app.cad.register_unit(
            actor="bench",
            unit_id=UnitId(f"U{i:03d}"),
            callsign=f"Unit {i:03d}",
            type=UNIT_TYPES[i % len(UNIT_TYPES)],
            station=f"Station {i % 12}",
            location=points[i],
            extra_capabilities=(),
        )
    ids: list[IncidentId] = []
    rng = random.Random(2)
    for j in range(incidents):
        out = app.cad.take_call(
            NewCall(
                location=points[units + j],
                nature=f"benchmark call {j}",
                incident_type=rng.choice(TYPES),
            ),
            actor="bench",
        )
        ids.extend(r.event.incident_id for r in out.records if isinstance(r.event, IncidentOpened))
    return ids


class Mover(threading.Thread):
    """Move every unit a little, each every `period_s`, in batches each second."""

    def __init__(self, server: LiveServer, units: int, period_s: float = 5.0) -> None:
        super().__init__(name="bench-mover", daemon=True)
        self.server = server
        self.units = units
        self.period_s = period_s
        self.stop_event = threading.Event()
        self.fixes = 0
        graph = server.network.graph
        self.nodes = [(float(graph.lat[i]), float(graph.lon[i])) for i in range(graph.n_nodes)]

    def run(self) -> None:
        """Report positions until stopped."""
        rng = random.Random(3)
        per_tick = max(1, round(self.units / self.period_s))
        cursor = 0
        while not self.stop_event.wait(1.0):
            now = self.server.app.clock.now()
            batch = []
            for _ in range(per_tick):
                lat, lon = rng.choice(self.nodes)
                batch.append(
                    (UnitId(f"U{cursor % self.units:03d}"), LatLon(lat, lon), now, None, None)
                )
                cursor += 1
            self.server.app.cad.report_positions(batch, actor="avl")
            self.fixes += len(batch)


def live_phase(
    page: Any,
    server: LiveServer,
    ids: list[IncidentId],
    units: int,
    seconds: float,
    rate: float,
    tag: str,
) -> dict[str, Any]:
    """Commit `rate` marked incident updates per second while units move; return delays."""
    page.evaluate("() => { window.__seen = {}; window.__arrived = {}; window.__long = []; }")
    mover = Mover(server, units)
    mover.start()
    committed: dict[int, float] = {}
    target: dict[int, str] = {}
    rng = random.Random(4)
    n = int(seconds * rate)
    start = time.perf_counter()
    for k in range(n):
        due = start + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        inc = rng.choice(ids)
        server.app.cad.update_incident(
            inc, actor="bench", description=f"update {tag} mk{k}k", reason="benchmark"
        )
        committed[k] = time.time() * 1000
        target[k] = inc
    # Let the last changes arrive and be drawn (at most 10 s more): a change still on
    # its way when the phase ends is late, not lost. Drawn means the newest change of
    # every incident touched is on screen.
    newest = sorted({inc: k for k, inc in target.items()}.values())
    ended = time.perf_counter()
    while time.perf_counter() < ended + 10.0:
        if page.evaluate("(ks) => ks.every((k) => String(k) in window.__seen)", newest):
            break
        time.sleep(0.2)
    time.sleep(max(0.0, ended + 2.0 - time.perf_counter()))
    mover.stop_event.set()
    mover.join()
    seen: dict[str, float] = page.evaluate("() => window.__seen")
    arrived: dict[str, float] = page.evaluate("() => window.__arrived")
    longtasks: list[list[int]] = page.evaluate("() => window.__long")
    delays = [seen[str(k)] - t0 for k, t0 in committed.items() if str(k) in seen]
    wire = [arrived[str(k)] - t0 for k, t0 in committed.items() if str(k) in arrived]
    busy = [d for _, d in longtasks]
    # A change not drawn because a later change to the same incident replaced it in
    # the same render batch was superseded on screen, not lost: told apart here.
    missing = [k for k in committed if str(k) not in seen]
    superseded = [
        k
        for k in missing
        if any(j > k and target[j] == target[k] and str(j) in seen for j in committed)
    ]
    lost = [k for k in missing if k not in superseded]
    if missing:
        print(
            f"[{tag}] not drawn: {missing} (superseded in the same batch: {superseded};"
            f" lost: {lost}; reached the page: {[k for k in missing if str(k) in arrived]})"
        )
    return {
        "p50": round(statistics.median(delays), 1),
        "p99": round(pct(delays, 0.99), 1),
        "max": round(max(delays), 1),
        "feed_p50": round(statistics.median(wire), 1),
        "feed_p99": round(pct(wire, 0.99), 1),
        "changes": len(committed),
        "missing": len(committed) - len(delays),
        "superseded": len(superseded),
        "lost": len(lost),
        "fixes": mover.fixes,
        "long_task_ms_per_s": round(sum(busy) / (seconds + 2), 1),
        "longest_task_ms": max(busy, default=0),
    }


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of each browser process (by pid) and of this process ("server")."""
    me = psutil.Process()
    out: dict[str, float] = {}
    for child in me.children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                t = child.cpu_times()
                out[str(child.pid)] = t.user + t.system
        except psutil.Error:
            continue
    own = me.cpu_times()
    out["server"] = own.user + own.system
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Browser and server CPU seconds between two `cpu_seconds()` readings.

    Summed over the processes alive at the second reading (a process started in
    between counts whole), so a process of an earlier page that exits in between
    does not take its CPU time off the figure.
    """
    browser = sum(v - before.get(pid, 0.0) for pid, v in after.items() if pid != "server")
    return {"browser": round(browser, 2), "server": round(after["server"] - before["server"], 2)}


def browser_threads() -> dict[str, float]:
    """CPU seconds so far of each kind of browser thread ("gpu-process/CrGpuMain", ...).

    Threads are named by their process's ``--type`` (the browser process is "browser")
    and their own name in /proc, so a breakdown says whether the page's main thread,
    the map's worker or the software rasteriser (GPU process) used the time.
    """
    out: dict[str, float] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in child.name().lower():
                continue
            kind = "browser"
            for arg in child.cmdline():
                if arg.startswith("--type="):
                    kind = arg.removeprefix("--type=")
            for th in child.threads():
                try:
                    name = Path(f"/proc/{child.pid}/task/{th.id}/comm").read_text().strip()
                except OSError:
                    name = "?"
                # Pool threads are numbered (ThreadPoolForeg, DedicatedWorker thread): one bucket.
                key = f"{kind}/{name.rstrip('0123456789 ')}"
                out[key] = out.get(key, 0.0) + th.user_time + th.system_time
        except psutil.Error:
            continue
    return out


def print_profile(profile: dict[str, Any], top: int = 18) -> None:
    """Print the page main thread's CPU self time by script and by function (CDP profile)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    gaps = profile.get("timeDeltas", [])
    self_us: dict[int, float] = {}
    for node_id, dt in zip(profile.get("samples", []), gaps, strict=False):
        self_us[node_id] = self_us.get(node_id, 0.0) + dt
    by_script: dict[str, float] = {}
    by_fn: dict[str, float] = {}
    for node_id, us in self_us.items():
        frame = nodes[node_id]["callFrame"]
        script = frame["url"].rsplit("/", 1)[-1] or f"({frame['functionName'] or 'native'})"
        by_script[script] = by_script.get(script, 0.0) + us
        fn = f"{script}:{frame['functionName'] or '(anonymous)'}"
        by_fn[fn] = by_fn.get(fn, 0.0) + us
    total = sum(self_us.values())
    print(f"main-thread samples until map ready: {total / 1e6:.2f} s")
    for name, us in sorted(by_script.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {us / 1e3:8.0f} ms  {name}")
    for name, us in sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1e3:8.0f} ms  {name}")


def load_page(
    browser: Any, url: str, session: str, incidents: int, units: int, *, profile: bool, still: bool
) -> tuple[Any, Any, dict[str, Any]]:
    """Open the command centre in a fresh context; return (context, page, first-render figures).

    A fresh context has an empty HTTP cache, so every load fetches the app, the map
    library and the snapshot again, as a dispatcher opening the page would.
    """
    context = browser.new_context(
        viewport={"width": 1600, "height": 900},
        reduced_motion="reduce" if still else "no-preference",
    )
    context.add_init_script(
        f"sessionStorage.setItem('vigil.session', {json.dumps(session)});" + OBSERVER
    )
    page = context.new_page()
    cdp = context.new_cdp_session(page) if profile else None
    if cdp is not None:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Performance.enable")
        cdp.send("Profiler.start")
    cpu0 = cpu_seconds()
    threads0 = browser_threads() if profile else {}
    page.goto(url)
    page.wait_for_selector("body[data-map-ready='1']", state="attached", timeout=120_000)
    first_cpu = cpu_spent(cpu0, cpu_seconds())
    print(f"first render CPU seconds: {first_cpu}")
    if profile:
        threads1 = browser_threads()
        spent = {k: v - threads0.get(k, 0.0) for k, v in threads1.items()}
        print("browser CPU seconds by process/thread until map ready:")
        for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
            if sec >= 0.02:
                print(f"  {sec:6.2f} s  {name}")
    if cdp is not None:
        print_profile(cdp.send("Profiler.stop")["profile"])
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        print(
            "main thread until map ready (s): "
            + ", ".join(
                f"{k} {metrics.get(k, 0):.2f}"
                for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
            )
        )
    # The streets are drawn after the live picture (behind a still copy of it): how long
    # until they are on screen too, and what that costs, is reported beside it.
    page.wait_for_selector("body[data-basemap-ready='1']", state="attached", timeout=120_000)
    basemap_cpu = cpu_spent(cpu0, cpu_seconds())
    frames: int = page.evaluate(
        "() => performance.getEntriesByName('vigil:map-ready')[0].detail.frames"
    )
    marks: dict[str, float] = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('mark')"
        ".map(m => [m.name, m.startTime]))"
    )
    # What "first full render" means, checked rather than trusted: every incident in
    # the queue, and every incident and unit in the map's sources and drawn (rendered).
    rows = page.locator("#queue-list li").count()
    drawn = page.evaluate(
        """() => {
          const m = window.vigil.mapView.map;
          const ids = (layer) => new Set(m.queryRenderedFeatures({layers: [layer]})
            .map((f) => f.properties.id)).size;
          return {
            inc: m.getSource('incidents').serialize().data.features.length,
            units: m.getSource('units').serialize().data.features.length,
            inc_drawn: ids('incident-dot'), units_drawn: ids('unit-dot'),
          };
        }"""
    )
    assert rows == incidents, f"queue shows {rows} of {incidents}"
    assert (drawn["inc"], drawn["units"]) == (incidents, units), drawn
    # Every point is inside the city's extent the map opens on: each one is drawn.
    assert (drawn["inc_drawn"], drawn["units_drawn"]) == (incidents, units), drawn
    print({k: round(v) for k, v in marks.items()})
    print(
        f"first render: queue {marks['vigil:queue-ready']:.0f} ms, "
        f"map {marks['vigil:map-ready']:.0f} ms ({frames} map frames); basemap "
        f"{marks['vigil:basemap-ready']:.0f} ms; drawn in view: {drawn}"
    )
    figures = {
        "first_render_ms": max(marks["vigil:queue-ready"], marks["vigil:map-ready"]),
        "browser_cpu_s": first_cpu["browser"],
        "server_cpu_s": first_cpu["server"],
        "queue_ready_ms": marks["vigil:queue-ready"],
        "map_ready_ms": marks["vigil:map-ready"],
        "basemap_ready_ms": marks["vigil:basemap-ready"],
        "basemap_browser_cpu_s": basemap_cpu["browser"],
        "map_frames": frames,
    }
    return context, page, figures


def measure(
    seconds: float,
    rate: float,
    incidents: int,
    units: int,
    *,
    profile: bool = False,
    still: bool = False,
    loads: int = 1,
    first_only: bool = False,
) -> dict[str, Any]:
    """Run the scenario and return the figures (first render: the median of `loads` loads)."""
    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    if not built():
        raise SystemExit("the UI is not built: run scripts/build-web")
    phases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data").start()
        try:
            token = server.add_user("bench-dispatcher", Role.DISPATCHER)
            t = time.perf_counter()
            ids = seed(server, incidents, units)
            print(f"seeded {incidents} incidents, {units} units in {time.perf_counter() - t:.1f} s")
            session = json.dumps({"token": token, "name": "bench-dispatcher", "role": "dispatcher"})
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                runs: list[dict[str, Any]] = []
                loads_avg: list[float] = []
                for k in range(loads):
                    context, page, figures = load_page(
                        browser, server.url, session, incidents, units, profile=profile, still=still
                    )
                    runs.append(figures)
                    loads_avg.append(os.getloadavg()[0])
                    if k < loads - 1:
                        context.close()
                if not first_only:
                    page.wait_for_function("() => window.vigil.live.state === 'live'")
                    for phase in ("map", "no_map"):
                        if phase == "no_map":
                            # Same load with the map torn down: what the feed and DOM cost alone.
                            page.evaluate(
                                "() => { const m = window.vigil.mapView;"
                                " window.vigil.mapView = null; m.destroy(); }"
                            )
                        phases[phase] = live_phase(page, server, ids, units, seconds, rate, phase)
                context.close()
                browser.close()
        finally:
            server.stop()

    def median(key: str) -> float:
        return round(float(statistics.median(r[key] for r in runs)), 2 if key.endswith("_s") else 1)

    result: dict[str, Any] = {
        "incidents": incidents,
        "units": units,
        "page_loads": loads,
        "first_render_ms": median("first_render_ms"),
        "first_render_browser_cpu_s": median("browser_cpu_s"),
        "first_render_server_cpu_s": median("server_cpu_s"),
        "first_render_ms_each": [round(r["first_render_ms"]) for r in runs],
        "first_render_browser_cpu_s_each": [r["browser_cpu_s"] for r in runs],
        "load_average_1m": round(statistics.median(loads_avg), 1),
        "queue_ready_ms": median("queue_ready_ms"),
        "map_ready_ms": median("map_ready_ms"),
        "map_frames_until_ready": median("map_frames"),
        "basemap_ready_ms": median("basemap_ready_ms"),
        "basemap_browser_cpu_s": median("basemap_browser_cpu_s"),
    }
    if first_only:
        return result
    m, nm = phases["map"], phases["no_map"]
    result.update(
        {
            "live_p50_ms": m["p50"],
            "live_p99_ms": m["p99"],
            "live_max_ms": m["max"],
            "feed_p50_ms": m["feed_p50"],
            "feed_p99_ms": m["feed_p99"],
            "changes_missing_from_dom": m["missing"],
            "changes_superseded_in_batch": m["superseded"],
            "changes_lost": m["lost"],
            "main_thread_long_task_ms_per_s": m["long_task_ms_per_s"],
            "main_thread_longest_task_ms": m["longest_task_ms"],
            "no_map_live_p50_ms": nm["p50"],
            "no_map_live_p99_ms": nm["p99"],
            "no_map_feed_p99_ms": nm["feed_p99"],
            "no_map_main_thread_long_task_ms_per_s": nm["long_task_ms_per_s"],
            "changes_per_s": rate,
            "changes_per_phase": m["changes"],
            "avl_fixes_per_s": round(m["fixes"] / (seconds + 2), 1),
            "seconds_per_phase": seconds,
        }
    )
    result.update(
        {
            "viewport": "1600x900",
            "reduced_motion": still,
            "browser": "Debian chromium, headless, SwiftShader (software WebGL)",
            "machine": f"{platform.machine()}, {platform.python_implementation()} "
            f"{platform.python_version()}",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    return result


def main() -> None:
    """Run the benchmark, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument(
        "--profile", action="store_true", help="print where the first render's CPU goes"
    )
    parser.add_argument(
        "--reduced-motion",
        action="store_true",
        help="the browser prefers reduced motion (static rings instead of pulses)",
    )
    parser.add_argument(
        "--loads",
        type=int,
        default=1,
        help="open the page this many times (fresh cache each) and report the median first render",
    )
    parser.add_argument(
        "--first-only",
        action="store_true",
        help="measure the first render only (no live phases; results are not written)",
    )
    args = parser.parse_args()
    result = measure(
        args.seconds,
        args.rate,
        args.incidents,
        args.units,
        profile=args.profile,
        still=args.reduced_motion,
        loads=max(1, args.loads),
        first_only=args.first_only,
    )
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    targets = {"first_render_ms": 2000.0, "live_p99_ms": 500.0}
    if args.first_only:
        del targets["live_p99_ms"]
    for key, limit in targets.items():
        verdict = "ok" if float(result[key]) <= limit else "OVER TARGET"
        print(f"target {key} <= {limit:.0f}: {verdict}")
    if args.first_only:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
