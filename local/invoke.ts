/**
 * `npm run invoke -- <api|authorizer|queue-worker|maintenance|usage-probe> [event.json]`
 *
 * Runs one handler once, in this process, against the stack `npm start` runs (same databases,
 * secrets and environment), and prints its result as JSON. Without an event file: the scheduled
 * jobs get the event their schedule sends, the api gets `GET /health`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
  throw new Error('the authorizer needs an event file (see test/fixtures/events/)');
}

const [name, eventFile] = process.argv.slice(2);
if (!name || !(name in FUNCTIONS)) {
  console.error(`Usage: npm run invoke -- <${Object.keys(FUNCTIONS).join('|')}> [event.json]`);
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
