// The analyst page: KPIs with confidence intervals by breakdown, and the demand forecast.
// Its own entry (analyst.html), sharing only the API client and DOM helpers.
import "../style.css";
import { Api, ApiError, type Session } from "../api";
import { clear, h } from "../dom";
import type { TokenOut } from "../types";
import { forecastChart, intervalChart, type ForecastHour } from "./charts";

const KEY = "vigil.analyst.session";
const root = document.getElementById("root")!;

interface Est {
  value: number | null;
  low: number | null;
  high: number | null;
}
interface KpiRow {
  interval: string;
  breakdown: string;
  group: string;
  n: number;
  mean_s: Est;
  p50_s: Est;
  p90_s: Est;
  compliance: Est | null;
}
interface Definition {
  name: string;
  label: string;
  from: string;
  to: string;
  standard: string;
  target_s: number | null;
}
interface KpiReport {
  method: string;
  rows: KpiRow[];
  definitions: Definition[];
  exclusions: Record<string, Record<string, number>>;
}
interface Forecast {
  series: string;
  model: string;
  level: number;
  hours: ForecastHour[];
  backtest: { mase: number; seasonal_naive_mase: number; interval_coverage: number; origins: number } | null;
  note: string;
}

function select(id: string, options: string[], value: string): HTMLSelectElement {
  const s = h("select", { id });
  for (const o of options) s.append(h("option", { value: o, selected: o === value }, o));
  return s;
}

function labelled(text: string, control: HTMLSelectElement): HTMLLabelElement {
  return h("label", { for: control.id, class: "an-control" }, text + " ", control);
}

const seconds = (e: Est): string => (e.value === null ? "–" : e.value.toFixed(0));
const ci = (e: Est): string => (e.low === null || e.high === null ? "–" : `${e.low.toFixed(0)}–${e.high.toFixed(0)}`);
const pct = (e: Est | null): string =>
  e === null || e.value === null ? "–" : `${(e.value * 100).toFixed(1)}%` + (e.low === null || e.high === null ? "" : ` (${(e.low * 100).toFixed(1)}–${(e.high * 100).toFixed(1)})`);

/** The figures behind the chart, as a table: every estimate with its 95% interval. */
function kpiTable(rows: KpiRow[], caption: string): HTMLElement {
  const head = ["Group", "n", "Mean (s)", "95% CI", "p50 (s)", "95% CI", "p90 (s)", "95% CI", "Within target (95% CI)"];
  const table = h("table", { id: "an-table", class: "an-table" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, r.group), h("td", {}, r.n),
      h("td", {}, seconds(r.mean_s)), h("td", {}, ci(r.mean_s)),
      h("td", {}, seconds(r.p50_s)), h("td", {}, ci(r.p50_s)),
      h("td", {}, seconds(r.p90_s)), h("td", {}, ci(r.p90_s)),
      h("td", {}, pct(r.compliance))))));
  // Scrolls sideways on a phone instead of widening the page; focusable so the keyboard can.
  return h("div", { class: "an-table-wrap", tabindex: 0, role: "region", "aria-label": caption, style: "overflow-x:auto;max-width:100%" }, table);
}

async function show(api: Api): Promise<void> {
  clear(root);
  const source = select("an-source", ["log", "history"], "history");
  const interval = select("an-interval", ["call_processing", "turnout", "travel", "total"], "travel");
  const breakdown = select("an-breakdown", ["all", "call_type", "priority", "area", "hour", "unit_type", "period"], "area");
  const stat = select("an-stat", ["p90_s", "p50_s", "mean_s"], "p90_s");
  const status = h("p", { class: "muted", id: "an-status", role: "status" });
  const chart = h("div", { id: "an-chart" });
  const tableBox = h("div", { id: "an-kpis" });
  const exclusions = h("p", { class: "muted", id: "an-exclusions" });
  const fc = h("div", { id: "an-forecast" });
  root.append(
    h("main", { class: "analyst" },
      h("h1", {}, "Response times — with their uncertainty"),
      h("p", {}, labelled("Source", source), " ", labelled("Interval", interval), " ",
        labelled("By", breakdown), " ", labelled("Statistic", stat)),
      status, chart, tableBox, exclusions,
      h("h2", {}, "Demand forecast (next 24 h)"), fc,
      h("p", { class: "muted" }, h("a", { href: "/transparency" }, "Public transparency report")),
    ),
  );
  let report: KpiReport | null = null;
  const draw = (): void => {
    clear(chart);
    clear(tableBox);
    if (!report) return;
    const rows = report.rows.filter((r) => r.interval === interval.value && r.breakdown === breakdown.value);
    const key = stat.value as "p90_s" | "p50_s" | "mean_s";
    const def = report.definitions.find((d) => d.name === interval.value);
    const target = key === "p90_s" ? (def?.target_s ?? null) : null;
    chart.append(intervalChart(
      rows.filter((r) => r[key].value !== null).map((r) => ({ label: r.group, value: r[key].value ?? 0, low: r[key].low, high: r[key].high, n: r.n })),
      target, "s"));
    if (def) chart.append(h("p", { class: "muted" }, `${def.label}: ${def.from} → ${def.to}. ${def.standard}.`));
    tableBox.append(kpiTable(rows, `${def?.label ?? interval.value} by ${breakdown.value}: estimates with 95% confidence intervals`));
    const ex = report.exclusions[interval.value] ?? {};
    exclusions.textContent = "Counted, not hidden: " + Object.entries(ex).map(([k, v]) => `${k} ${v}`).join(", ") + ". " + report.method;
  };
  const load = async (): Promise<void> => {
    status.textContent = "Loading…";
    try {
      report = await api.get<KpiReport>(`/analytics/kpis?source=${source.value}&breakdown=all&breakdown=${breakdown.value}`);
      status.textContent = `${report.rows.length} groups`;
      draw();
    } catch (err) {
      report = null;
      draw();
      status.textContent = err instanceof ApiError ? err.message : String(err);
    }
    clear(fc);
    try {
      const f = await api.get<Forecast>(`/analytics/forecast?source=${source.value}`);
      fc.append(forecastChart(f.hours, f.level));
      const b = f.backtest;
      fc.append(h("p", { class: "muted" }, `${f.series}. ${f.model}. ` + (b
        ? `Backtest over ${b.origins} days: MASE ${b.mase.toFixed(2)} (seasonal naive ${b.seasonal_naive_mase.toFixed(2)}), interval coverage ${(b.interval_coverage * 100).toFixed(0)}%.`
        : f.note)));
    } catch (err) {
      fc.append(h("p", { class: "muted" }, "No forecast: " + (err instanceof ApiError ? err.message : String(err))));
    }
  };
  source.addEventListener("change", () => void load());
  breakdown.addEventListener("change", () => void load());
  interval.addEventListener("change", draw);
  stat.addEventListener("change", draw);
  await load();
}

function login(message = ""): void {
  clear(root);
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "warn", role: "alert", id: "login-error" }, message);
  const form = h("form", { class: "login" },
    h("h1", {}, "Vigil"), h("p", { class: "muted" }, "Analyst — sign in"),
    h("label", { for: "login-user" }, "User name"), user,
    h("label", { for: "login-password" }, "Password"), pass,
    error, h("button", { type: "submit", class: "primary", id: "login-submit" }, "Sign in"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const s = await new Api().request<TokenOut>("POST", "/auth/login", { username: user.value, password: pass.value });
        const session: Session = { token: s.token, name: s.name, role: s.role };
        sessionStorage.setItem(KEY, JSON.stringify(session));
        await show(new Api(session));
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
      }
    })();
  });
  root.append(h("main", { class: "login-wrap" }, form));
}

const raw = sessionStorage.getItem(KEY);
if (raw) {
  void show(new Api(JSON.parse(raw) as Session)).catch(() => login("Sign in again."));
} else {
  login();
}
