// The one clock: the server's (real or simulated). The browser's own clock may be
// wrong, or the platform may run a simulation far from real time; every age and
// timer on screen is derived from the server's time, which /health and the live
// feed's `clock` frames (every few seconds) carry. Between readings the clock runs
// on the browser's monotonic time at the rate the server's readings show (a
// simulation may run faster than real time).

export class ServerClock {
  private serverMs: number | null = null;
  private at = 0;
  private rate = 1;
  private last: { server: number; at: number; rate: number | null } | null = null;

  /** Record a server time (ISO or epoch ms) read just now. */
  sync(server: string | number): void {
    const ms = typeof server === "number" ? server : Date.parse(server);
    if (Number.isNaN(ms)) return;
    const at = performance.now();
    // A rate other than 1 is believed only when two successive intervals (seconds
    // apart, so transit jitter is small) agree: a clock that was set, not running
    // fast, shows one odd interval and is not extrapolated from.
    let seen: number | null = null;
    if (this.last && at - this.last.at >= 2000) seen = (ms - this.last.server) / (at - this.last.at);
    if (seen !== null && this.last?.rate != null) {
      const agree = Math.abs(seen - this.last.rate) <= 0.1 * Math.max(1, Math.abs(seen));
      this.rate = agree && seen > 0 && Math.abs(seen - 1) > 0.05 ? seen : 1;
    }
    if (seen !== null || !this.last) this.last = { server: ms, at, rate: seen };
    this.serverMs = ms;
    this.at = at;
  }

  get synced(): boolean {
    return this.serverMs !== null;
  }

  /** Server time now, in epoch milliseconds (the browser's until the first reading). */
  now(): number {
    if (this.serverMs === null) return Date.now();
    return this.serverMs + (performance.now() - this.at) * this.rate;
  }
}
