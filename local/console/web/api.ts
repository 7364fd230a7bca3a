/** The console's JSON API (same origin), and the event stream. */

/** An answer that was not 2xx: its message. */
export class ApiError extends Error {}

async function answer<T>(response: Response): Promise<T> {
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new ApiError(body.error ?? `the console answered ${response.status}`);
  return body;
}

/** GET /api/<path>?<query>. */
export async function get<T>(path: string, query: Record<string, string> = {}): Promise<T> {
  const search = new URLSearchParams(query).toString();
  return answer<T>(await fetch(`/api/${path}${search ? `?${search}` : ''}`));
}

/** POST /api/<path> with a JSON body. */
export async function post<T>(path: string, body: Record<string, unknown> = {}): Promise<T> {
  return answer<T>(
    await fetch(`/api/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

/** What GET /api/stack answers. */
export interface StackInfo {
  readonly api: string;
  readonly tenant: string;
  readonly tenants: readonly string[];
  readonly keyPrefix: string;
  readonly databases: readonly string[];
  readonly spaces: readonly string[];
  readonly limiters: readonly string[];
  readonly watch: boolean;
}

/** What a request of the log carries (local/console/feed.ts). */
export interface RequestRecord {
  readonly id: string;
  readonly kind: 'api' | 'scheduled';
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly cost: { readonly commands: number; readonly roundTrips: number; readonly billed: number };
  readonly byDatabase: Record<string, { commands: number; roundTrips: number; billed: number }>;
  readonly lines: number;
  readonly error?: string;
}

/** One database's figures (local/console/metrics.ts). */
export interface DatabaseSnapshot {
  readonly name: string;
  readonly plan: {
    readonly preset: string;
    readonly pricePer100kCommands: number;
    readonly monthlyFeeUsd: number;
  };
  readonly commandsPerSecond: number[];
  readonly commandsPerSecondNow: number;
  readonly hitRate: number | null;
  readonly reads: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number } | null;
  readonly billed: number;
  readonly windowSeconds: number;
  readonly monthlyUsd: number;
  readonly keys: number | null;
  readonly memoryBytes: number | null;
  readonly memorySampled: boolean;
}
