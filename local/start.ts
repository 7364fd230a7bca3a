/**
 * `npm start [-- --port 3000]`: the whole stack on this machine, with no AWS or Upstash account.
 * Starts a private redis-server (or uses REDIS_URL), the local Upstash and Secrets Manager
 * endpoints, and serves the real handlers through the local API gateway, with the scheduled jobs
 * on their rates. Ctrl-C, SIGTERM and SIGHUP (the terminal closed) stop everything it started.
 */
import { parseArgs } from 'node:util';
import { type LocalApp, startLocalApp } from './app';
import { safeUrl } from './safe-url';
import { removeStackFile, stackFilePath, writeStackFile } from './stack-file';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    tenant: { type: 'string', default: 'dev' },
    'no-scheduler': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(`Usage: npm start [-- --port 3000] [--tenant dev] [--no-scheduler]
  PORT        port of the HTTP API (default 3000; 0 picks a free one)
  REDIS_URL   use this Redis instead of starting a private redis-server (never flushed)
  POWERTOOLS_LOG_LEVEL  the handlers' log level (default INFO; WARN for quiet)`);
  process.exit(0);
}

const port = Number(values.port ?? process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port must be a port number, got ${JSON.stringify(values.port ?? process.env.PORT)}`);
  process.exit(2);
}

let stack: LocalApp | undefined;
let stopping = false;
const stackFile = stackFilePath();

// A closed terminal takes stdout and stderr with it: a failed write must not end the process
// before it has stopped its redis-server.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the local stack...`);
  removeStackFile(stackFile, { ifPid: process.pid });
  await stack?.stop();
  console.log('stopped; nothing left running.');
  process.exit(0);
}
// Ctrl-C, `kill`, and the terminal closing: all three stop the same way.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(signal, () => void shutdown(signal));
// Any other way out (a crash) still leaves no stale file; the redis-server dies with the process.
process.on('exit', () => removeStackFile(stackFile, { ifPid: process.pid }));

try {
  stack = await startLocalApp({
    port,
    tenant: values.tenant,
    scheduler: !values['no-scheduler'],
    ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
    onScheduledRun: (run) =>
      console.log(
        JSON.stringify({
          scheduled: run.job,
          ok: run.ok,
          ms: run.ms,
          ...(run.error ? { error: run.error } : {}),
        }),
      ),
  });
} catch (error) {
  console.error(`could not start the local stack: ${(error as Error).message}`);
  process.exit(1);
}

writeStackFile(
  {
    pid: process.pid,
    url: stack.url,
    upstashUrl: stack.upstashUrl,
    secretsUrl: stack.secretsUrl,
    env: stack.env,
  },
  stackFile,
);

const skipped = stack.scheduler?.skipped ?? [];
console.log(`
Local stack ready (the same handlers that run in Lambda)

  HTTP API        ${stack.url}
  API key         ${stack.apiKey}   (tenant "${stack.tenant}", all scopes; shown once, new on every start)
  Upstash REST    ${stack.upstashUrl}   (databases: ${Object.keys(stack.tokens).join(', ')}; tokens in docs/local.md)
  Secrets Manager ${stack.secretsUrl}
  Redis           ${safeUrl(stack.redisUrl)}
  Schedules       ${values['no-scheduler'] ? 'off' : `queue-worker ${stack.config.schedules.queueWorker}, maintenance ${stack.config.schedules.maintenance}`}${skipped.length ? `\n                  not run locally (only rate(...) expressions are): ${skipped.join(', ')}; run them by hand with npm run invoke -- <job>` : ''}

Try it:
  export API=${stack.url} KEY=${stack.apiKey}
  curl -s -X PUT "$API/cache/hello?ttlMs=60000" -H "x-api-key: $KEY" -H 'content-type: application/json' -d '{"hi":"there"}'
  curl -s "$API/cache/hello" -H "x-api-key: $KEY"
  curl -s -X POST "$API/rate-limits/api/check" -H "x-api-key: $KEY" -H 'content-type: application/json' -d '{"identifier":"user-1"}'
  curl -s "$API/health"

More: npm run api-key -- create --tenant acme | npm run invoke -- maintenance | docs/api.md
Ctrl-C stops everything.
`);
