// The one clock: the server's (real or simulated). The browser's own clock may be
// wrong, or the platform may run a simulation far from real time; every age and
// timer on screen is derived from the server's time, read from the API and the
// live feed, plus the browser's monotonic time elapsed since.

export class ServerClock {
  private serverMs: number | null = null;
  private at = 0;

  /** Record a server time (ISO or epoch ms) read just now. */
  sync(server: string | number): void {
    const ms = typeof server === "number" ? server : Date.parse(server);
    if (Number.isNaN(ms)) return;
    this.serverMs = ms;
    this.at = performance.now();
  }

  get synced(): boolean {
    return this.serverMs !== null;
  }

  /** Server time now, in epoch milliseconds (the browser's until the first sync). */
  now(): number {
    if (this.serverMs === null) return Date.now();
    return this.serverMs + (performance.now() - this.at);
  }
}
