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

export type { DatabaseSnapshot, RequestRecord } from '../wire';
