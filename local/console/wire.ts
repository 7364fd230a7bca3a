/**
 * What the console's server sends its page (its JSON API and event stream): one module both
 * import, with no imports of its own, so the page's code (local/console/web, bundled for the
 * browser) and the server's agree on every field.
 */

/** What a request cost one database. */
export interface DatabaseCost {
  commands: number;
  roundTrips: number;
  billed: number;
}

/** One request or scheduled run. */
export interface RequestRecord {
  readonly id: string;
  readonly kind: 'api' | 'scheduled';
  /** When it started (epoch ms). */
  readonly at: number;
  /** HTTP method, or `RUN` for a scheduled run. */
  readonly method: string;
  /** The path, or the scheduled job's name. */
  readonly path: string;
  /** The route key (`GET /cache/{key}`), or `scheduled`. */
  readonly route: string;
  /** HTTP status; a scheduled run: 200 when it succeeded, 500 when it failed. */
  readonly status: number;
  readonly ms: number;
  /** Totals over the databases. */
  readonly cost: DatabaseCost;
  /** Per database, by name. */
  readonly byDatabase: Record<string, DatabaseCost>;
  /** Lines it wrote (its logs and metrics). */
  readonly lines: number;
  /** A scheduled run's error, if it failed. */
  readonly error?: string;
}

/** One database's figures, as the page draws them. */
export interface DatabaseSnapshot {
  readonly name: string;
  /** The plan's preset and price. */
  readonly plan: {
    readonly preset: string;
    readonly pricePer100kCommands: number;
    readonly monthlyFeeUsd: number;
  };
  /** Commands per second, one value per second, oldest first (the last 60). */
  readonly commandsPerSecond: number[];
  /** Over the last 10 s. */
  readonly commandsPerSecondNow: number;
  /** Share of top-level key reads that found a value, over the window; null before any read. */
  readonly hitRate: number | null;
  readonly reads: number;
  /** The endpoint's time per request over the window, in ms; null before any request. */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number } | null;
  /** Billed commands over the window, and the window's length in s. */
  readonly billed: number;
  readonly windowSeconds: number;
  /** Dollars a month if the window's billed commands per second went on all month (plus the fee). */
  readonly monthlyUsd: number;
  /** DBSIZE, and memory estimated from MEMORY USAGE of a sample of keys; null until sampled. */
  readonly keys: number | null;
  readonly memoryBytes: number | null;
  /** Whether memory comes from a sample (more keys than were measured). */
  readonly memorySampled: boolean;
}
