#!/usr/bin/env node
/**
 * `npx upstash-local --port 8079 --redis-url redis://127.0.0.1:6379 --token <t>` (the package's
 * bin), or in this repository `npm run upstash -- ...`.
 *
 * Runs the local Upstash REST endpoint in the foreground. Several databases:
 * `--database <token>=<redis-url>` (repeatable), one Redis database index each.
 */
import { parseArgs } from 'node:util';
import { cliError, flagError, portInUse } from './cli-errors';
import { type UpstashDatabase, UpstashEndpoint } from './upstash/server';

const USAGE = `Usage: upstash-local [--port 8079] [--host 127.0.0.1] [--redis-url redis://127.0.0.1:6379/0] --token <token>
       upstash-local --database <token>=<redis-url> [--database <token>=<redis-url> ...]
       (in this repository: npm run upstash -- ...)

Serves the Upstash Redis REST API (POST /, /pipeline, /multi-exec, SSE on /subscribe/<channel> and
/psubscribe/<pattern>) over a Redis of yours, for @upstash/redis and any other REST client.
Each token is one logical database, as on Upstash: give each its own database index
(redis://127.0.0.1:6379/1). Commands that reach another database or the server's configuration
are refused, in scripts too. docs/local.md lists what is emulated and every known difference.`;

const PROGRAM = 'upstash-local';
function fail(message: string): never {
  return cliError(PROGRAM, message, 2);
}

let values: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string', default: '8079' },
      host: { type: 'string', default: '127.0.0.1' },
      'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
      token: { type: 'string', default: process.env.UPSTASH_REDIS_REST_TOKEN },
      database: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}
try {
  values = parse();
} catch (error) {
  fail(flagError(error, 'upstash-local --help lists the options'));
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const databases: UpstashDatabase[] = (values.database ?? []).map((spec) => {
  const at = spec.indexOf('=');
  if (at < 1) fail('--database wants <token>=<redis-url>, got one without "="');
  return { token: spec.slice(0, at), redisUrl: spec.slice(at + 1) };
});
if (databases.length === 0) {
  if (!values.token) fail('--token (or UPSTASH_REDIS_REST_TOKEN) is required');
  databases.push({ token: values.token, redisUrl: values['redis-url'] });
}
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535)
  fail(`--port must be a port number from 0 to 65535, got ${JSON.stringify(values.port)}`);

let endpoint: UpstashEndpoint;
try {
  endpoint = await UpstashEndpoint.start({ databases, port, host: values.host });
} catch (error) {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === 'EADDRINUSE') cliError(PROGRAM, portInUse(port, '--port'), 1);
  // The reason names host and port only: a URL given with a password is never echoed.
  const reason = message.replace(/^cannot reach Redis for the Upstash endpoint: /, '');
  cliError(
    PROGRAM,
    `cannot reach Redis (${reason}); start one (redis-server) or point ${databases.length > 1 || !values.token ? '--database' : '--redis-url'} at a Redis you can reach`,
    1,
  );
}
console.log(`Upstash REST endpoint ready at ${endpoint.url} (UPSTASH_REDIS_REST_URL=${endpoint.url})`);
const indexes = databases.map((db) => new URL(db.redisUrl).pathname.replace(/^\//, '') || '0');
console.log(
  `${databases.length} database${databases.length === 1 ? '' : 's'} (Redis database ${indexes.join(', ')}); ` +
    'pub/sub on /subscribe/<channel> and /psubscribe/<pattern>',
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void endpoint.close().then(() => process.exit(0));
  });
}
