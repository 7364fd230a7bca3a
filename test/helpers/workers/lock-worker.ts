/**
 * A child process of the lock contention test: runs `WORKERS` async workers, each taking the lock
 * on a random one of `RESOURCES` resources `ACQUISITIONS` times. Inside each critical section it
 * INCRs the resource's holder counter (must read 1: nobody else inside), appends its fencing token
 * to the resource's list, and DECRs the counter on the way out. Reports over IPC.
 *
 * Env: UPSTASH_URL, UPSTASH_TOKEN, KEY_PREFIX, WORKERS, ACQUISITIONS, RESOURCES.
 */
import { Redis } from '@upstash/redis';
import { GLOBAL, LockService } from '../../../lambda/services/lock';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { UpstashRedisClient } from '../../../lambda/shared/redis';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const client = new Redis({
  url: env('UPSTASH_URL'),
  token: env('UPSTASH_TOKEN'),
  automaticDeserialization: false,
  enableTelemetry: false,
  retry: false,
});
const keys = new KeyBuilder(env('KEY_PREFIX'));
const locks = new LockService({ redis: new UpstashRedisClient(client), keys });
const workers = Number(env('WORKERS'));
const acquisitions = Number(env('ACQUISITIONS'));
const resources = Number(env('RESOURCES'));

let overlaps = 0;

async function worker(): Promise<void> {
  for (let done = 0; done < acquisitions; ) {
    const resource = `r${Math.floor(Math.random() * resources)}`;
    const lock = await locks.acquire(GLOBAL, resource, {
      leaseMs: 10_000,
      retry: { attempts: 1_000, delayMs: 10, jitterMs: 20 },
    });
    if (!lock) continue;
    const holders = keys.global('lock', 'test-holders', resource);
    const fences = keys.global('lock', 'test-fences', resource);
    const inside = await client.incr(holders);
    if (inside !== 1) overlaps++;
    // Issued in one tick, so auto-pipelining sends them in this order in one round trip: the
    // counter is back to 0 before the lock is released.
    const [, , released] = await Promise.all([
      client.rpush(fences, lock.fencingToken),
      client.decr(holders),
      locks.release(lock),
    ]);
    if (!released) overlaps++;
    done++;
  }
}

await Promise.all(Array.from({ length: workers }, worker));
process.send?.({ overlaps, acquisitions: workers * acquisitions }, () => process.disconnect?.());
