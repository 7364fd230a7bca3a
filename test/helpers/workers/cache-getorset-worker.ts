/**
 * Child process of the getOrSet stampede test: on "go" from stdin, fires `count` concurrent
 * getOrSet calls of one cold key and prints `{ "loads": n, "values": [...] }` as JSON.
 * Usage: node --import tsx cache-getorset-worker.ts <url> <token> <prefix> <count>
 */
import { Redis } from '@upstash/redis';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';

const [url = '', token = '', prefix = '', count = ''] = process.argv.slice(2);
const redis = new UpstashRedisClient(
  new Redis({ url, token, automaticDeserialization: false, enableTelemetry: false, retry: false }),
);
const cache = new CacheService({
  redis,
  keys: new KeyBuilder(prefix),
  lockTtlMs: 10_000,
  lockWaitMs: 10_000,
});
let loads = 0;
const loader = async () => {
  loads += 1;
  // Slow enough that every caller of both processes arrives while it runs.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { loadedBy: process.pid };
};
process.stdin.once('data', async () => {
  const values = await Promise.all(
    Array.from({ length: Number(count) }, () =>
      cache.getOrSet('acme', 'cold-key', loader, { ttlMs: 60_000 }),
    ),
  );
  process.stdout.write(JSON.stringify({ loads, values }));
  process.exit(0);
});
process.stdout.write('ready\n');
