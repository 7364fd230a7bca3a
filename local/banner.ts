import type { LocalApp } from './app';
import { safeUrl } from './safe-url';

/** What the banner says besides the stack itself. */
export interface BannerOptions {
  /** The console's URL, when it runs. */
  readonly consoleUrl?: string;
  readonly scheduler: boolean;
  readonly watch: boolean;
  /** Where the full JSON logs go: the terminal (`--verbose`), a file, or nowhere but the console. */
  readonly logs: string;
  /** Whether keys work (stdin is a terminal). */
  readonly keys: boolean;
}

/**
 * `npm start`'s banner: where everything is, the development key and lines to try. It holds no
 * secret but that key (the Upstash tokens are fixed local names, a Redis password is left out).
 */
export function banner(stack: LocalApp, options: BannerOptions): string {
  const skipped = stack.scheduler.skipped;
  const schedules = options.scheduler
    ? `queue-worker ${stack.config.schedules.queueWorker}, maintenance ${stack.config.schedules.maintenance}`
    : 'off (run them from the console, or npm run invoke -- <job>)';
  return `
Local stack ready (the same handlers that run in Lambda)

  HTTP API        ${stack.url}
  Console         ${options.consoleUrl ?? 'off'}${options.consoleUrl ? '   (each request, what it cost, the data; open it in a browser)' : ''}
  API key         ${stack.apiKey}   (tenant "${stack.tenant}", all scopes; new on every start)
  Upstash REST    ${stack.upstashUrl}   (databases: ${Object.keys(stack.tokens).join(', ')}; tokens in docs/local.md)
  Secrets Manager ${stack.secretsUrl}
  Redis           ${safeUrl(stack.redisUrl)}
  Schedules       ${schedules}${skipped.length ? `\n                  not run locally (only rate(...) expressions are): ${skipped.join(', ')}; run them by hand with npm run invoke -- <job>` : ''}
  Handlers        ${options.watch ? 'rebuilt and reloaded when lambda/ changes (--watch)' : 'loaded once (--watch reloads them on every change)'}
  Logs            ${options.logs}

Try it:
  export API=${stack.url} KEY=${stack.apiKey}
  curl -s -X PUT "$API/cache/hello?ttlMs=60000" -H "x-api-key: $KEY" -H 'content-type: application/json' -d '{"hi":"there"}'
  curl -s "$API/cache/hello" -H "x-api-key: $KEY"
  curl -s -X POST "$API/rate-limits/api/check" -H "x-api-key: $KEY" -H 'content-type: application/json' -d '{"identifier":"user-1"}'
  curl -s "$API/health"

More: npm run api-key -- create --tenant acme | npm run invoke -- maintenance | docs/api.md
${options.keys ? 'Keys: b banner, v full logs on/off, q quit. ' : ''}kill -USR2 ${process.pid} prints this again. Ctrl-C stops everything.
`;
}
