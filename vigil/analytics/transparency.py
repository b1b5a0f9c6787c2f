"""The transparency report: what the platform did, measured, and never did — for the public.

`collect` gathers counts from the platform's own records; `render_html` and
`render_pdf` publish them with plots. By construction the report carries **no
personal data**: no caller identity, no free text (call notes, incident
descriptions, addresses, stated purposes), no user names, no call or incident
ids — only counts, KPIs and settings. Stated purposes of personal-data access
are free text, so they are published only as categories (`purpose_category`).
"""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from vigil.analytics.intervals import INTERVALS
from vigil.analytics.kpi import KpiReport
from vigil.core.events import Recorded
from vigil.store.records import AuditEntry, ChainBreak

# What each kind of device records, and what it never records (published as is).
DEVICE_RECORDS: dict[str, tuple[str, str]] = {
    "noise_meter": ("A-weighted sound levels (LAeq, LAmax, L10/L90)", "audio, speech"),
    "air_quality": ("pollutant concentrations (PM2.5, PM10, NO2, O3)", "anything about people"),
    "flood_gauge": ("water level and rate of rise", "anything about people"),
    "crowd_counter": ("people counts, density per m², flow", "faces, identities, tracks"),
    "smoke_panel": ("alarm and fault states", "anything about people"),
    "acoustic_detector": (
        "impulsive-event class (e.g. gunshot-like) and level",
        "audio recordings, speech",
    ),
    "camera_analytics": (
        "counts, zones, object classes and behaviours (intrusion, loitering, crowding)",
        "faces, licence plates, identities, or any person followed across cameras; "
        "stored snapshots are blurred",
    ),
    "panic_button": ("button presses and their location", "audio, video"),
    "weather_station": ("wind, rain, temperature", "anything about people"),
}
# Keywords -> a published category of a stated purpose; the free text itself never leaves.
PURPOSE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("call-back to the caller", ("callback", "call back", "call-back", "recontact", "ring back")),
    ("emergency response", ("emergency", "response", "dispatch", "locate", "rescue")),
    ("legal request", ("court", "warrant", "legal", "subpoena", "police request")),
    ("audit or quality review", ("audit", "quality", "review", "complaint", "oversight")),
    ("role-matrix or system test", ("test",)),
)


def purpose_category(purpose: str) -> str:
    """Return the published category of a stated purpose (never the text itself)."""
    text = re.sub(r"\s+", " ", purpose.lower())
    for category, words in PURPOSE_CATEGORIES:
        if any(w in text for w in words):
            return category
    return "other"


class EventLog(Protocol):
    """The part of the event store the report reads."""

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterable[Recorded]:
        """Yield recorded events in log order."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TransparencyFacts:
    """Everything the report publishes (counts and settings only)."""

    since: datetime
    until: datetime
    generated_at: datetime
    kpis: KpiReport | None
    kpi_source: str
    devices_by_kind: dict[str, int]
    alerts: dict[str, int]
    rule_firings: dict[str, int]
    dead_letters: dict[str, int]
    access_by_role: dict[str, int]
    access_by_purpose: dict[str, int]
    retention_days: float
    purges: int
    records_purged: int
    chain_intact: bool
    events_verified: int
    audit_verified: int
    chain_breaks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the public API's body)."""
        return {
            "period": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "generated_at": self.generated_at.isoformat(),
            "response_kpis": self.kpis.to_json() if self.kpis else None,
            "kpi_source": self.kpi_source,
            "devices": [
                {
                    "kind": k,
                    "count": n,
                    "records": DEVICE_RECORDS.get(k, ("", ""))[0],
                    "never_records": DEVICE_RECORDS.get(k, ("", ""))[1],
                }
                for k, n in sorted(self.devices_by_kind.items())
            ],
            "alerts": self.alerts,
            "rule_firings": self.rule_firings,
            "dead_letters": self.dead_letters,
            "personal_data_access": {
                "by_role": self.access_by_role,
                "by_purpose": self.access_by_purpose,
            },
            "retention": {
                "personal_data_days": self.retention_days,
                "purges": self.purges,
                "records_purged": self.records_purged,
            },
            "audit_chain": {
                "intact": self.chain_intact,
                "events_verified": self.events_verified,
                "audit_entries_verified": self.audit_verified,
                "breaks": self.chain_breaks,
            },
        }


def collect(
    *,
    log: EventLog,
    audit: Iterable[AuditEntry],
    role_of: dict[str, str],
    devices_by_kind: dict[str, int],
    dead_letters: dict[str, int],
    chain_breaks: Iterable[ChainBreak],
    events_verified: int,
    retention_days: float,
    kpis: KpiReport | None,
    kpi_source: str,
    since: datetime,
    until: datetime,
    now: datetime,
) -> TransparencyFacts:
    """Count what the platform did in [since, until) from its own records."""
    alerts: Counter[str] = Counter()
    firings: Counter[str] = Counter()
    for rec in log.read():
        if not since <= rec.at < until:
            continue
        if rec.type.startswith("alert."):
            alerts[rec.type.removeprefix("alert.")] += 1
        elif rec.type == "rule.fired" and not getattr(rec.event, "deduplicated", False):
            rule = getattr(rec.event, "rule", None)
            if isinstance(rule, str):
                firings[rule] += 1
    by_role: Counter[str] = Counter()
    by_purpose: Counter[str] = Counter()
    purges = purged = 0
    entries = list(audit)
    for e in entries:
        if not since <= e.at < until:
            continue
        if e.action.startswith("read_caller"):
            by_role[role_of.get(e.actor, "unknown")] += 1
            by_purpose[purpose_category(e.purpose)] += 1
        elif e.action == "purge_personal_data":
            purges += 1
            purged += len([x for x in e.detail.split(",") if x])
    breaks = list(chain_breaks)
    return TransparencyFacts(
        since=since,
        until=until,
        generated_at=now,
        kpis=kpis,
        kpi_source=kpi_source,
        devices_by_kind=dict(devices_by_kind),
        alerts=dict(sorted(alerts.items())),
        rule_firings=dict(firings.most_common()),
        dead_letters=dict(sorted(dead_letters.items())),
        access_by_role=dict(sorted(by_role.items())),
        access_by_purpose=dict(by_purpose.most_common()),
        retention_days=retention_days,
        purges=purges,
        records_purged=purged,
        chain_intact=not breaks,
        events_verified=events_verified,
        audit_verified=len(entries),
        chain_breaks=[f"{b.chain} chain at seq {b.seq}: {b.reason}" for b in breaks],
    )


# ----------------------------------------------------------------------------- plots
def _figures(facts: TransparencyFacts) -> list[Any]:
    import matplotlib as mpl  # noqa: PLC0415 - plots are imported only when rendering

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figs = []
    k = facts.kpis
    if k is not None and k.rows:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        names, vals, lo, hi = [], [], [], []
        for d in INTERVALS:
            row = k.overall(d.name)
            if row is None or row.p90_s.value is None:
                continue
            names.append(d.label)
            vals.append(row.p90_s.value)
            lo.append(row.p90_s.value - (row.p90_s.low or row.p90_s.value))
            hi.append((row.p90_s.high or row.p90_s.value) - row.p90_s.value)
        ax.barh(names, vals, xerr=[lo, hi], capsize=4, color="#4a78a8")
        for d in INTERVALS:
            if d.target_s and d.label in names:
                ax.plot([d.target_s], [names.index(d.label)], "r|", markersize=18)
        ax.set_xlabel("90th percentile (s), 95% CI; red: NFPA target")
        ax.set_title("Response intervals")
        fig.tight_layout()
        figs.append(fig)
        trend = k.select(interval="total", breakdown="period")
        if len(trend) >= 2:
            fig, ax = plt.subplots(figsize=(7, 3.2))
            xs = [r.group for r in trend]
            ys = [r.p90_s.value or 0.0 for r in trend]
            ax.plot(xs, ys, marker="o", label="p90 total response")
            ax.fill_between(
                xs,
                [r.p90_s.low or 0.0 for r in trend],
                [r.p90_s.high or 0.0 for r in trend],
                alpha=0.25,
                label="95% CI",
            )
            ax.set_ylabel("seconds")
            ax.set_title("Total response time by period")
            step = max(1, len(xs) // 12)
            ax.set_xticks(range(0, len(xs), step), [xs[i] for i in range(0, len(xs), step)])
            ax.tick_params(axis="x", rotation=60, labelsize=7)
            ax.legend()
            fig.tight_layout()
            figs.append(fig)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, (title, data) in zip(
        axes,
        (
            ("Rule firings", facts.rule_firings),
            ("Personal-data reads by role", facts.access_by_role),
        ),
        strict=True,
    ):
        items = list(data.items())[:12]
        ax.barh([i[0][:28] for i in items] or ["(none)"], [i[1] for i in items] or [0])
        ax.set_title(title)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    figs.append(fig)
    return figs


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


# ----------------------------------------------------------------------------- HTML
def _table(head: list[str], rows: list[list[object]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _ci(value: float | None, low: float | None, high: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    if pct:
        return (
            f"{value:.1%} ({low or 0:.1%}-{high or 0:.1%})" if low is not None else f"{value:.1%}"
        )
    return (
        f"{value:.0f} ({low:.0f}-{high:.0f})"
        if low is not None and high is not None
        else f"{value:.0f}"
    )


def kpi_rows(k: KpiReport, breakdown: str = "all") -> list[list[object]]:
    """Return table rows of one breakdown: interval, group, n, p50, p90, compliance."""
    out: list[list[object]] = []
    for r in k.rows:
        if r.breakdown != breakdown:
            continue
        c = r.compliance
        out.append(
            [
                r.interval,
                r.group,
                r.n,
                _ci(r.mean_s.value, r.mean_s.low, r.mean_s.high),
                _ci(r.p50_s.value, r.p50_s.low, r.p50_s.high),
                _ci(r.p90_s.value, r.p90_s.low, r.p90_s.high),
                _ci(c.value, c.low, c.high, pct=True) if c else "no target",
            ]
        )
    return out


KPI_HEAD = [
    "interval",
    "group",
    "n",
    "mean s (95% CI)",
    "p50 s (95% CI)",
    "p90 s (95% CI)",
    "within target (95% CI)",
]
STYLE = """
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f0f3f7} svg{max-width:100%;height:auto} .ok{color:#176e2c} .bad{color:#a31515}
"""


def render_html(facts: TransparencyFacts, *, plots: bool = True) -> str:
    """Return the report as one self-contained HTML page."""
    f = facts
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Vigil transparency report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Transparency report</h1>",
        f"<p>Period {html.escape(f.since.date().isoformat())} to "
        f"{html.escape(f.until.date().isoformat())} (end excluded); generated "
        f"{html.escape(f.generated_at.isoformat(timespec='seconds'))}. This page holds counts, "
        "measurements and settings only: no caller identity, no free text, no names.</p>",
    ]
    if plots:
        parts += [f"<figure>{_svg(fig)}</figure>" for fig in _figures(f)]
    parts.append("<h2>Response times</h2>")
    if f.kpis is not None and f.kpis.rows:
        parts.append(f"<p>Source: {html.escape(f.kpi_source)}. {html.escape(f.kpis.method())}</p>")
        parts.append(_table(KPI_HEAD, kpi_rows(f.kpis)))
        parts.append("<h3>Definitions</h3>")
        parts.append(
            _table(
                ["interval", "from", "to", "counted per", "standard"],
                [[d.name, d.start, d.end, d.per, d.standard] for d in INTERVALS],
            )
        )
        parts.append("<h3>Exclusions (counted, not hidden)</h3>")
        parts.append(
            _table(
                ["interval", *next(iter(f.kpis.exclusions.values())).keys()],
                [[k, *v.values()] for k, v in f.kpis.exclusions.items()],
            )
        )
        parts += [
            f"<p>{html.escape(k)}: not measurable — {html.escape(v)}.</p>"
            for k, v in f.kpis.not_measurable.items()
        ]
    else:
        parts.append("<p>No responses recorded in this period.</p>")
    parts.append("<h2>Devices and what they record</h2>")
    parts.append(
        _table(
            ["kind", "devices", "records", "never records"],
            [[k, n, *DEVICE_RECORDS.get(k, ("", ""))] for k, n in sorted(f.devices_by_kind.items())]
            or [["(none registered)", 0, "", ""]],
        )
    )
    for title, data in (
        ("Public alerts", f.alerts),
        ("Rule firings by rule", f.rule_firings),
        ("Rejected device messages (dead-lettered) by reason", f.dead_letters),
        ("Reads of caller identity by role", f.access_by_role),
        ("Reads of caller identity by purpose (categories)", f.access_by_purpose),
    ):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(_table(["", "count"], [[k, v] for k, v in data.items()] or [["(none)", 0]]))
    parts.append("<h2>Retention</h2>")
    parts.append(
        f"<p>Caller identity is kept {f.retention_days:g} days, then purged. Purges in this "
        f"period: {f.purges}, removing the identity of {f.records_purged} calls.</p>"
    )
    parts.append("<h2>Audit chain</h2>")
    verdict = "intact" if f.chain_intact else "BROKEN"
    cls = "ok" if f.chain_intact else "bad"
    parts.append(
        f"<p class='{cls}'>Hash chains {verdict}: {f.events_verified} events and "
        f"{f.audit_verified} audit entries verified.</p>"
    )
    parts += [f"<p class='bad'>{html.escape(b)}</p>" for b in f.chain_breaks]
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- PDF
def render_pdf(facts: TransparencyFacts, path: Path) -> Path:
    """Write the report as a PDF (matplotlib's PDF backend): summary, KPI table, plots."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.backends.backend_pdf import PdfPages  # noqa: PLC0415

    f = facts
    lines = [
        "Vigil transparency report",
        f"Period {f.since.date()} to {f.until.date()} (end excluded)",
        f"Generated {f.generated_at.isoformat(timespec='seconds')}",
        "",
        f"Audit chain: {'intact' if f.chain_intact else 'BROKEN'} "
        f"({f.events_verified} events, {f.audit_verified} audit entries)",
        f"Devices: {sum(f.devices_by_kind.values())} "
        f"({', '.join(f'{k} {n}' for k, n in sorted(f.devices_by_kind.items())) or 'none'})",
        f"Public alerts: {sum(f.alerts.values())}; rule firings: {sum(f.rule_firings.values())}",
        f"Rejected device messages: {sum(f.dead_letters.values())}",
        f"Reads of caller identity: {sum(f.access_by_role.values())} "
        f"({', '.join(f'{k} {n}' for k, n in f.access_by_role.items()) or 'none'})",
        f"Retention of caller identity: {f.retention_days:g} days; purges {f.purges} "
        f"({f.records_purged} calls)",
        "",
        "Counts, measurements and settings only: no caller identity, no free text, no names.",
    ]
    with PdfPages(path) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        for i, line in enumerate(lines):
            fig.text(0.08, 0.94 - i * 0.03, line, fontsize=16 if i == 0 else 10)
        if f.kpis is not None and f.kpis.rows:
            rows = kpi_rows(f.kpis)
            ax = fig.add_axes((0.05, 0.1, 0.9, 0.35))
            ax.axis("off")
            table = ax.table(
                cellText=[[str(c) for c in r] for r in rows],
                colLabels=KPI_HEAD,
                colWidths=[0.14, 0.08, 0.07, 0.15, 0.15, 0.17, 0.24],
                loc="upper center",
            )
            table.auto_set_font_size(False)
            table.set_fontsize(6.5)
            table.scale(1, 1.4)
            fig.text(0.05, 0.47, "Response intervals, all incidents (seconds)", fontsize=11)
        pdf.savefig(fig)
        plt.close(fig)
        for fig in _figures(f):
            pdf.savefig(fig)
            plt.close(fig)
    return path


class _Users(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...


class PlatformRecords(EventLog, Protocol):
    """The store's parts the report reads: log, audit trail, logins, chain check."""

    def audit_entries(
        self, *, subject: str | None = None, actor: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Return audit entries, newest first."""
        ...

    def users(self) -> Iterable[_Users]:
        """Return every login."""
        ...

    def verify(self) -> list[ChainBreak]:
        """Recompute the hash chains."""
        ...

    def last_seq(self) -> int:
        """Return the log's last sequence number."""
        ...


def gather(
    store: PlatformRecords,
    *,
    devices_by_kind: dict[str, int],
    dead_letters: dict[str, int],
    retention_days: float,
    settings: Any,
    since: datetime,
    until: datetime,
    now: datetime,
    responses: Any | None = None,
    source_label: str = "the platform's event log",
) -> TransparencyFacts:
    """Collect the report from a platform store; KPIs from `responses` (default: the log)."""
    from vigil.analytics.kpi import Selection, kpi_report  # noqa: PLC0415 - avoids a cycle
    from vigil.analytics.source import LiveLogSource  # noqa: PLC0415

    source = responses if responses is not None else LiveLogSource(store)
    con = source.connect()
    try:
        kpis = kpi_report(
            con,
            settings,
            source=source_label,
            selection=Selection(since=since, until=until),
            breakdowns=("all", "call_type", "priority", "period"),
        )
    finally:
        con.close()
    return collect(
        log=store,
        audit=store.audit_entries(limit=10_000_000),
        role_of={u.name: u.role for u in store.users()},
        devices_by_kind=devices_by_kind,
        dead_letters=dead_letters,
        chain_breaks=store.verify(),
        events_verified=store.last_seq(),
        retention_days=retention_days,
        kpis=kpis,
        kpi_source=source_label,
        since=since,
        until=until,
        now=now,
    )
