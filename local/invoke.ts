/**
 * `npm run invoke -- <api|authorizer|queue-worker|maintenance|usage-probe> [event.json]`
 *
 * Runs one handler once, in this process, against the stack `npm start` runs (same databases,
 * secrets and environment), and prints its result as JSON. Without an event file: the scheduled
 * jobs get the event their schedule sends, the api gets `GET /health`, the authorizer the example
 * in `local/events/authorizer.json`. `local/events/` holds an example event for every function.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { invoke, type LocalHandler } from './lambda-runtime';
import { scheduledEvent } from './scheduler';
import { readStackFile } from './stack-file';

const FUNCTIONS = {
  api: { module: '../lambda/handlers/api', timeoutMs: 10_000 },
  authorizer: { module: '../lambda/handlers/authorizer', timeoutMs: 5_000 },
  'queue-worker': { module: '../lambda/handlers/queue-worker', timeoutMs: 60_000 },
  maintenance: { module: '../lambda/handlers/maintenance', timeoutMs: 60_000 },
  'usage-probe': { module: '../lambda/handlers/usage-probe', timeoutMs: 60_000 },
} as const;

type FunctionName = keyof typeof FUNCTIONS;

/** Where the example events live: one per function, `<function>.json`. */
const EVENTS_DIR = 'local/events/';

const USAGE = `Usage: npm run invoke -- <${Object.keys(FUNCTIONS).join('|')}> [event.json]
Example events for every function: ${EVENTS_DIR} (e.g. npm run invoke -- api ${EVENTS_DIR}api.json)`;

function defaultEvent(name: FunctionName): unknown {
  if (name === 'queue-worker' || name === 'maintenance' || name === 'usage-probe')
    return scheduledEvent(name);
  if (name === 'api') {
    const now = Date.now();
    return {
      version: '2.0',
      routeKey: 'GET /health',
      rawPath: '/health',
      rawQueryString: '',
      headers: { host: 'localhost' },
      requestContext: {
        accountId: '000000000000',
        apiId: 'local',
        domainName: 'localhost',
        domainPrefix: 'localhost',
        http: {
          method: 'GET',
          path: '/health',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'invoke',
        },
        requestId: randomUUID(),
        routeKey: 'GET /health',
        stage: '$default',
        // API Gateway's format: 24/Nov/2026:10:30:00 +0000
        time: new Date(now)
          .toUTCString()
          .replace(/^\w+, (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1/$2/$3:$4 +0000'),
        timeEpoch: now,
      },
      isBase64Encoded: false,
    };
  }
  // The example's key is a placeholder, so it answers { isAuthorized: false } until a copy of the
  // file carries a real key (the one npm start printed, or one from npm run api-key).
  return JSON.parse(
    readFileSync(fileURLToPath(new URL('./events/authorizer.json', import.meta.url)), 'utf8'),
  );
}

const [name, eventFile] = process.argv.slice(2);
if (!name || !(name in FUNCTIONS)) {
  console.error(USAGE);
  process.exit(2);
}
try {
  const fn = FUNCTIONS[name as FunctionName];
  Object.assign(process.env, readStackFile().env);
  const event = eventFile ? JSON.parse(readFileSync(eventFile, 'utf8')) : defaultEvent(name as FunctionName);
  const mod = (await import(fn.module)) as { handler: LocalHandler };
  const result = await invoke(name, mod.handler, event, fn.timeoutMs);
  // After the handler's own log and metric lines, so the result is easy to find (and to cut).
  console.log(`--- ${name} result ---`);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
