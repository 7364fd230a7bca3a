/**
 * Child process of the rate-limit exactness test: fires `count` concurrent checks of one
 * identifier at the shared endpoint and prints `{ "allowed": n, "refused": n }` as JSON.
 * Usage: node --import tsx ratelimit-worker.ts <url> <token> <prefix> <algorithm> <limit> <count>
 */
import { Redis } from '@upstash/redis';
import { type Algorithm, RateLimiter } from '../../../lambda/services/rate-limit/rate-limiter';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';

const [url = '', token = '', prefix = '', algorithm = '', limit = '', count = ''] = process.argv.slice(2);
const redis = new UpstashRedisClient(
  new Redis({ url, token, automaticDeserialization: false, enableTelemetry: false, retry: false }),
);
const limiter = new RateLimiter({
  redis,
  keys: new KeyBuilder(prefix),
  name: 'exact',
  algorithm: algorithm as Algorithm,
  limit: Number(limit),
  // Long windows and a slow refill: nothing replenishes while the test runs.
  windowMs: 3_600_000,
  refillRate: 1,
  // The blocked cache would answer refusals locally; the test wants every check at Redis.
  blockedCacheSize: 0,
});
// Wait for the parent's go, so both processes fire at the same moment.
process.stdin.once('data', async () => {
  const results = await Promise.all(
    Array.from({ length: Number(count) }, () => limiter.check('tenant-a', 'shared-identifier')),
  );
  const allowed = results.filter((r) => r.success).length;
  process.stdout.write(JSON.stringify({ allowed, refused: results.length - allowed }));
  process.exit(0);
});
process.stdout.write('ready\n');
