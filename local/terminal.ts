import type { RequestRecord } from './request-feed';

/**
 * `npm start`'s quiet terminal: one short line per request and scheduled run, with what it cost
 * in Upstash commands; the handlers' JSON lines only with `--verbose` (or in `--log-file`). An
 * ERROR line of a request is shown under it whatever the mode: a failure is never hidden.
 */

const time = (epochMs: number): string => new Date(epochMs).toISOString().slice(11, 19);

/**
 * `14:03:07 GET /cache/hello 200 3 ms  2 cmd, 2 rt, 4 billed`. The path never carries the query
 * string (where a secret could be), the record never a header.
 */
export function shortLine(record: RequestRecord): string {
  const { commands, roundTrips, billed } = record.cost;
  const outcome =
    record.kind === 'scheduled' ? (record.status === 200 ? 'ok' : 'failed') : String(record.status);
  const cost = commands === 0 ? 'no Upstash commands' : `${commands} cmd, ${roundTrips} rt, ${billed} billed`;
  return `${time(record.at)} ${record.method} ${record.path} ${outcome} ${Math.round(record.ms)} ms  ${cost}${record.error ? `  (${record.error})` : ''}`;
}

/** The message of a JSON log line at level ERROR, or undefined for any other line. */
export function errorMessage(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(line) as { level?: unknown; message?: unknown; error?: { message?: unknown } };
    if (parsed.level !== 'ERROR' && parsed.level !== 'CRITICAL') return undefined;
    const cause = typeof parsed.error?.message === 'string' ? `: ${parsed.error.message}` : '';
    return `${String(parsed.message)}${cause}`;
  } catch {
    return undefined;
  }
}
