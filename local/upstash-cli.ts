/**
 * `npm run upstash -- --port 8079 --redis-url redis://127.0.0.1:6379 --token <t>`
 *
 * Runs the local Upstash REST endpoint in the foreground. Several databases:
 * `--database <token>=<redis-url>` (repeatable), e.g. one per Redis database index.
 */
import { parseArgs } from 'node:util';
import { type UpstashDatabase, UpstashEndpoint } from './upstash/server';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8079' },
    host: { type: 'string', default: '127.0.0.1' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    token: { type: 'string', default: process.env.UPSTASH_REDIS_REST_TOKEN },
    database: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(`Usage: npm run upstash -- [--port 8079] [--host 127.0.0.1] [--redis-url redis://127.0.0.1:6379] --token <token>
       npm run upstash -- --database <token>=<redis-url> [--database <token>=<redis-url> ...]`);
  process.exit(0);
}

const databases: UpstashDatabase[] = (values.database ?? []).map((spec) => {
  const at = spec.indexOf('=');
  if (at < 1) {
    // Not echoed: the value holds a token, and maybe a Redis password.
    console.error('error: --database wants <token>=<redis-url>');
    process.exit(2);
  }
  return { token: spec.slice(0, at), redisUrl: spec.slice(at + 1) };
});
if (databases.length === 0) {
  if (!values.token) {
    console.error('error: --token (or UPSTASH_REDIS_REST_TOKEN) is required');
    process.exit(2);
  }
  databases.push({ token: values.token, redisUrl: values['redis-url'] });
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`error: --port must be a port number, got "${values.port}"`);
  process.exit(2);
}

const endpoint = await UpstashEndpoint.start({ databases, port, host: values.host });
console.log(`Upstash REST endpoint ready at ${endpoint.url} (UPSTASH_REDIS_REST_URL=${endpoint.url})`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void endpoint.close().then(() => process.exit(0));
  });
}
