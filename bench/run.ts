/**
 * `npm run bench`: side-by-side measurements of what the stack's claims are about. Costs are
 * counted (exact); times are taken next to their reference in the same run and reported as
 * ratios with medians. Prints the figures; `--write` writes bench/results.json, bench/RESULTS.md
 * and bench/costs.svg, `--check` compares with the committed results.json, `--cold-start` measures
 * only the cold starts (and prints their tables). See docs/bench.md.
 */
import { readFileSync } from 'node:fs';
import { cpus, type as osType, totalmem } from 'node:os';
import { Lock } from '@upstash/lock';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import { CacheService } from '../lambda/services/cache/cache-service';
import { LockService } from '../lambda/services/lock';
import { JobQueue } from '../lambda/services/queue';
import { type Algorithm, RateLimiter } from '../lambda/services/rate-limit/rate-limiter';
import { SessionService } from '../lambda/services/sessions/session-service';
import { createUpstashRedis } from '../lambda/shared/client';
import { KeyBuilder } from '../lambda/shared/keys';
import { UpstashRedisClient } from '../lambda/shared/redis';
import { commandsCostUsd, PRICES_READ_ON } from '../lib/plans';
import { startLocalApp } from '../local/app';
import { localContext } from '../local/lambda-runtime';
import { startRedisServer } from '../local/redis-server';
import { UpstashEndpoint } from '../local/upstash/server';
import { API_SCENARIO, httpScenarioClient, runStep, SCENARIO_CONFIG, stepName } from './api-scenario';
import { compareResults } from './check';
import { measureColdStarts } from './cold-start';
import { apiEventFor } from './events';
import {
  type Cost,
  closeHttp,
  costOf,
  http,
  leanRestClient,
  medianCost,
  type PairedLatency,
  pairedLatency,
  pairedThroughput,
  percentile,
  pickMedian,
  round,
  startHttpFloor,
} from './lib';
import { nodeBinary } from './node-binary';
import { powertoolsIdempotent } from './powertools-idempotency';
import { type BenchResults, markdown, writeReport } from './report';
import { coldStartMarkdown } from './report-cold-start';

const RUNS = 5;
/** `npm run bench -- --check`: measure, compare with the committed results, write nothing. */
const CHECK = process.argv.includes('--check');
/** `npm run bench -- --write`: measure, then rewrite the committed results. */
const WRITE = process.argv.includes('--write');
/** `npm run bench -- --cold-start`: only the cold starts, printed. */
const COLD_START_ONLY = process.argv.includes('--cold-start');
/** `--keep-profiles <dir>`: keep a CPU profile of each function's cold start there. */
const KEEP_PROFILES = process.argv[process.argv.indexOf('--keep-profiles') + 1];
const keepProfiles = process.argv.includes('--keep-profiles') ? KEEP_PROFILES : undefined;
/** `--node24`: the cold starts on Node 24 too (Lambda's), installed from npm into a cache on first use. */
const NODE24 = process.argv.includes('--node24');
if ((WRITE && CHECK) || (COLD_START_ONLY && (WRITE || CHECK))) {
  console.error(
    'usage: npm run bench [-- --write | --check | --cold-start] [--node24] [--keep-profiles <dir>]',
  );
  process.exit(2);
}
// The in-process handlers log each request to stdout; the figures are what the bench prints.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
// With metrics disabled Powertools still warns on every flush that it has none to publish.
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) =>
    String(chunk).startsWith('No application metrics to publish')
      ? true
      : write(chunk, ...rest)) as typeof stream.write;
}
const started = performance.now();
const log = (message: string) =>
  console.error(`[bench ${round((performance.now() - started) / 1000, 1)} s] ${message}`);
const coldStartOptions = {
  ...(keepProfiles ? { keepProfiles } : {}),
  ...(NODE24 ? { otherNode: nodeBinary(24, log) } : {}),
};

// ---------------------------------------------------------------- set-up: a Redis of our own
const server = await startRedisServer();
const direct = new IORedis(server.url, { lazyConnect: true });
await direct.connect();
const TOKEN = 'bench-token';
const endpoint = await UpstashEndpoint.start({ databases: [{ token: TOKEN, redisUrl: server.url }] });
// The runtime's own client settings (auto-pipelining, timeouts), as the handlers build it.
const raw = createUpstashRedis({ mode: 'rest', url: endpoint.url, token: TOKEN }, { timeoutMs: 5_000 });
const redis = new UpstashRedisClient(raw);
const keys = new KeyBuilder('bench');
const cost = (op: () => Promise<unknown>) => costOf(endpoint, TOKEN, direct, op);
let seq = 0;
const fresh = (name: string) => `${name}-${seq++}`;

/** One row of the cost table: ours next to a reference doing the same job. */
export interface CostRow {
  readonly group: string;
  readonly operation: string;
  readonly ours: Cost;
  readonly target?: { readonly commands: number; readonly roundTrips: number };
  readonly reference?: { readonly name: string; readonly cost: Cost };
}
const costs: CostRow[] = [];

/** The local app the API rows and the cold starts run against: one database for every feature. */
function startBenchStack() {
  return startLocalApp({
    port: 0,
    redisUrl: server.url,
    keyPrefix: 'benchapi',
    scheduler: false,
    // The scenario's configuration (one database, an api limit nothing reaches, a namespace).
    config: SCENARIO_CONFIG,
  });
}

if (COLD_START_ONLY) {
  const stack = await startBenchStack();
  // The api bundles' first event reads this key.
  await http(
    `${stack.url}/cache/hot`,
    'PUT',
    { 'x-api-key': stack.apiKey, 'content-type': 'application/json' },
    '{"v":1}',
  );
  const cold = await measureColdStarts(stack, log, coldStartOptions);
  console.log(coldStartMarkdown(cold).join('\n'));
  await stack.stop();
  closeHttp();
  await endpoint.close();
  direct.disconnect();
  await server.stop();
  log(`cold starts measured in ${round((performance.now() - started) / 1000, 1)} s; nothing written`);
  process.exit(0);
}

// ---------------------------------------------------------------- cache
log('costs: cache, sessions');
{
  const cache = new CacheService({ redis, keys });
  await cache.set('acme', 'hot', { v: 1 }, { ttlMs: 600_000 });
  const k = keys.key('cache', 'acme', 'v:hot');
  costs.push({
    group: 'cache',
    operation: 'get (hit)',
    ours: await medianCost(RUNS, () => cost(() => cache.get('acme', 'hot'))),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'naive EXISTS then GET',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          if ((await redis.exists([k])) > 0) await redis.get(k);
        }),
      ),
    },
  });
  // Each delete measures the deletion of a key that exists (it is set again, uncounted, first).
  costs.push({
    group: 'cache',
    operation: 'delete',
    ours: await medianCost(RUNS, async () => {
      await cache.set('acme', 'hot', { v: 1 });
      return cost(() => cache.delete('acme', 'hot'));
    }),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'naive EXISTS then DEL',
      cost: await medianCost(RUNS, async () => {
        await cache.set('acme', 'hot', { v: 1 });
        return cost(async () => {
          if ((await redis.exists([k])) > 0) await redis.del([k]);
        });
      }),
    },
  });
  const entries = Array.from({ length: 10 }, (_, i) => ({ key: `m${i}`, value: i }));
  costs.push({
    group: 'cache',
    operation: 'mset of 10',
    ours: await medianCost(RUNS, () => cost(() => cache.mset('acme', entries))),
    reference: {
      name: 'naive 10 sequential SETs',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          for (const e of entries) await redis.set(keys.key('cache', 'acme', `v:${e.key}`), String(e.value));
        }),
      ),
    },
  });
}

// ---------------------------------------------------------------- sessions
{
  const sessions = new SessionService({ redis, keys });
  const session = await sessions.create('acme', 'u1', { theme: 'dark' });
  const sk = keys.key('session', 'acme', `s:${session.id}`);
  costs.push({
    group: 'sessions',
    operation: 'get with sliding TTL',
    ours: await medianCost(RUNS, () => cost(() => sessions.get('acme', session.id))),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'naive HGETALL then PEXPIRE',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          await raw.hgetall(sk);
          await raw.pexpire(sk, 3_600_000);
        }),
      ),
    },
  });
  costs.push({
    group: 'sessions',
    operation: 'create',
    ours: await medianCost(RUNS, () => cost(() => sessions.create('acme', fresh('user'), { a: 1 }))),
    reference: {
      name: 'naive HSET, PEXPIRE, ZADD to the user index, PEXPIRE (no cap on sessions per user)',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          const id = fresh('naive-session');
          const index = `naive:user-sessions:${id}`;
          await raw.hset(`naive:session:${id}`, { a: '1', _u: 'u', _c: String(Date.now()) });
          await raw.pexpire(`naive:session:${id}`, 3_600_000);
          await raw.zadd(index, { score: Date.now(), member: id });
          await raw.pexpire(index, 86_400_000);
        }),
      ),
    },
  });
}

// ---------------------------------------------------------------- rate limits, vs @upstash/ratelimit
log('costs: rate limits vs @upstash/ratelimit');
/** Billed commands per check, ours next to @upstash/ratelimit, for each algorithm and case. */
export interface RateLimitRow {
  readonly algorithm: Algorithm;
  readonly case: 'first call' | 'allowed' | 'rejected';
  readonly ours: Cost;
  readonly library: Cost;
  /** The @upstash/ratelimit figure the cost targets (docs/bench.md) anchor on. */
  readonly anchorBilled: number;
}
const rateLimits: RateLimitRow[] = [];
{
  const ANCHOR: Record<Algorithm, Record<RateLimitRow['case'], number>> = {
    'fixed-window': { 'first call': 3, allowed: 2, rejected: 2 },
    'sliding-window': { 'first call': 5, allowed: 4, rejected: 3 },
    'token-bucket': { 'first call': 4, allowed: 4, rejected: 2 },
  };
  const libraryRedis = new Redis({ url: endpoint.url, token: TOKEN, enableTelemetry: false });
  for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as const) {
    const limit = 3;
    const ours = new RateLimiter({
      redis,
      keys,
      name: `b-${algorithm}`,
      algorithm,
      limit,
      windowMs: 60_000,
      blockedCacheSize: 0, // measure Redis's verdict; the cache path costs 0 commands
    });
    const library = new Ratelimit({
      redis: libraryRedis,
      limiter:
        algorithm === 'fixed-window'
          ? Ratelimit.fixedWindow(limit, '60 s')
          : algorithm === 'sliding-window'
            ? Ratelimit.slidingWindow(limit, '60 s')
            : Ratelimit.tokenBucket(limit, '60 s', limit),
      ephemeralCache: false,
      analytics: false,
      prefix: `lib-${algorithm}`,
    });
    // Warm both script caches, so EVALSHA finds its script as in a warm deployment.
    await ours.check('acme', 'warm');
    await library.limit('warm');
    const cases: Array<RateLimitRow['case']> = ['first call', 'allowed', 'allowed', 'rejected'];
    const perCase: Record<string, { ours: Cost[]; library: Cost[] }> = {};
    for (let run = 0; run < RUNS; run++) {
      const id = fresh('id');
      for (const [i, c] of cases.entries()) {
        // Calls 1-3 use the limit of 3 (first call, then allowed twice); call 4 is rejected.
        const o = await cost(() => ours.check('acme', id));
        const l = await cost(() => library.limit(id));
        if (i === 2) continue;
        perCase[c] ??= { ours: [], library: [] };
        perCase[c].ours.push(o);
        perCase[c].library.push(l);
      }
    }
    for (const c of ['first call', 'allowed', 'rejected'] as const) {
      rateLimits.push({
        algorithm,
        case: c,
        ours: pickMedian(perCase[c]?.ours ?? []),
        library: pickMedian(perCase[c]?.library ?? []),
        anchorBilled: ANCHOR[algorithm][c],
      });
    }
    costs.push({
      group: 'rate limits',
      operation: `check (${algorithm})`,
      ours: rateLimits.find((r) => r.algorithm === algorithm && r.case === 'allowed')?.ours as Cost,
      target: { commands: 1, roundTrips: 1 },
      reference: {
        name: '@upstash/ratelimit',
        cost: rateLimits.find((r) => r.algorithm === algorithm && r.case === 'allowed')?.library as Cost,
      },
    });
    if (algorithm !== 'sliding-window') continue;
    // Read without consuming, refund and reset, next to the library's getRemaining, negative
    // rate and resetUsedTokens, each on an identifier that has used two of its three.
    const used = async () => {
      const id = fresh('id');
      await ours.check('acme', id);
      await ours.check('acme', id);
      await library.limit(id);
      await library.limit(id);
      return id;
    };
    costs.push({
      group: 'rate limits',
      operation: `read without consuming (${algorithm})`,
      ours: await medianCost(RUNS, async () => {
        const id = await used();
        return cost(() => ours.peek('acme', id));
      }),
      target: { commands: 1, roundTrips: 1 },
      reference: {
        name: '@upstash/ratelimit getRemaining',
        cost: await medianCost(RUNS, async () => {
          const id = await used();
          return cost(() => library.getRemaining(id));
        }),
      },
    });
    costs.push({
      group: 'rate limits',
      operation: `refund (${algorithm})`,
      ours: await medianCost(RUNS, async () => {
        const id = await used();
        return cost(() => ours.refund('acme', id));
      }),
      target: { commands: 1, roundTrips: 1 },
      reference: {
        name: '@upstash/ratelimit limit with a negative rate',
        cost: await medianCost(RUNS, async () => {
          const id = await used();
          return cost(() => library.limit(id, { rate: -1 }));
        }),
      },
    });
    costs.push({
      group: 'rate limits',
      operation: `reset (${algorithm})`,
      ours: await medianCost(RUNS, async () => {
        const id = await used();
        return cost(() => ours.reset('acme', id));
      }),
      target: { commands: 1, roundTrips: 1 },
      reference: {
        // Its script SCANs the whole keyspace: its cost is this bench database's size, not the id's.
        name: `@upstash/ratelimit resetUsedTokens (a SCAN of the whole database, ${await direct.dbsize()} keys here)`,
        cost: await medianCost(RUNS, async () => {
          const id = await used();
          return cost(() => library.resetUsedTokens(id));
        }),
      },
    });
  }
}

// ---------------------------------------------------------------- locks, vs @upstash/lock's algorithm
log('costs: locks and queue');
{
  const locks = new LockService({ redis, keys });
  // @upstash/lock itself, on a plain @upstash/redis client of the same endpoint; no retries.
  const lockRedis = new Redis({ url: endpoint.url, token: TOKEN, enableTelemetry: false });
  const upstashLock = (id: string) =>
    new Lock({ id: `bench:ul:${id}`, redis: lockRedis, lease: 10_000, retry: { attempts: 1, delay: 0 } });
  const resource = 'report';
  costs.push({
    group: 'locks',
    operation: 'acquire',
    ours: await medianCost(RUNS, () =>
      cost(async () => {
        const lock = await locks.acquire('acme', fresh(resource));
        if (!lock) throw new Error('lock not acquired');
      }),
    ),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: '@upstash/lock 0.2.1 Lock.acquire (SET NX PX)',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          if (!(await upstashLock(fresh('ul')).acquire())) throw new Error('@upstash/lock not acquired');
        }),
      ),
    },
  });
  // Contended: someone holds the resource; one try each, no waiting.
  const heldOurs = 'held';
  if (!(await locks.acquire('acme', heldOurs, { leaseMs: 60_000 }))) throw new Error('lock not acquired');
  const heldLibrary = upstashLock('held');
  if (!(await heldLibrary.acquire({ lease: 60_000 }))) throw new Error('@upstash/lock not acquired');
  costs.push({
    group: 'locks',
    operation: 'acquire while held (one try)',
    ours: await medianCost(RUNS, () =>
      cost(async () => {
        if (await locks.acquire('acme', heldOurs, { retry: { attempts: 1 } }))
          throw new Error('acquired a held lock');
      }),
    ),
    reference: {
      name: '@upstash/lock 0.2.1 Lock.acquire, one attempt',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          if (await upstashLock('held').acquire()) throw new Error('@upstash/lock acquired a held lock');
        }),
      ),
    },
  });
  const releaseCosts: Cost[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const lock = await locks.acquire('acme', fresh(resource));
    if (!lock) throw new Error('lock not acquired');
    const c = await cost(() => locks.release(lock));
    if (i > 0) releaseCosts.push(c);
  }
  const libraryRelease: Cost[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const lock = upstashLock(fresh('ul'));
    if (!(await lock.acquire())) throw new Error('@upstash/lock not acquired');
    const c = await cost(async () => {
      if (!(await lock.release())) throw new Error('@upstash/lock not released');
    });
    if (i > 0) libraryRelease.push(c);
  }
  costs.push({
    group: 'locks',
    operation: 'release',
    ours: pickMedian(releaseCosts),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: '@upstash/lock 0.2.1 Lock.release (EVAL compare-and-delete)',
      cost: pickMedian(libraryRelease),
    },
  });
}

// ---------------------------------------------------------------- queue
{
  const queue = new JobQueue({ redis, keys, name: 'bench' });
  costs.push({
    group: 'queue',
    operation: 'enqueue',
    ours: await medianCost(RUNS, () =>
      cost(() => queue.enqueue({ tenant: 'acme', type: 'bench.job', payload: { n: 1 } })),
    ),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'naive SET job then LPUSH id',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          const id = fresh('job');
          await raw.set(`naive:job:${id}`, '{"n":1}');
          await raw.lpush('naive:ready', id);
        }),
      ),
    },
  });
  const dequeued: Cost[] = [];
  const acked: Cost[] = [];
  for (let i = 0; i <= RUNS; i++) {
    await queue.enqueue({ tenant: 'acme', type: 'bench.job' });
    let job: Awaited<ReturnType<JobQueue['dequeue']>> = null;
    const d = await cost(async () => {
      job = await queue.dequeue({ leaseMs: 30_000 });
    });
    if (!job) throw new Error('nothing to dequeue');
    const taken = job;
    const a = await cost(() => queue.ack(taken));
    if (i > 0) {
      dequeued.push(d);
      acked.push(a);
    }
  }
  costs.push({
    group: 'queue',
    operation: 'dequeue (with lease)',
    ours: pickMedian(dequeued),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'naive RPOP, GET job, SET lease',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          await raw.lpush('naive:ready2', 'x');
          endpoint.resetStats();
          await direct.call('CONFIG', 'RESETSTAT');
          const id = await raw.rpop<string>('naive:ready2');
          await raw.get(`naive:job:${id}`);
          await raw.set(`naive:lease:${id}`, '1', { px: 30_000 });
        }),
      ),
    },
  });
  costs.push({
    group: 'queue',
    operation: 'ack',
    ours: pickMedian(acked),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'naive ZREM from the leased set, HSET the finished record',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          const id = fresh('naive-job');
          await raw.zrem('naive:leased', id);
          await raw.hset('naive:jobs', { [id]: '{"state":"done"}' });
        }),
      ),
    },
  });
}

// ---------------------------------------------------------------- queue: a tenant's jobs by state
log('costs: job list');
{
  // 2,000 ready jobs of 20 tenants, enqueued in turn: a tenant's page of 20 sits among all the others.
  const queue = new JobQueue({ redis, keys, name: 'bench-list' });
  for (let i = 0; i < 2_000; i++) {
    await queue.enqueue({ tenant: `t${i % 20}`, type: 'bench.job', payload: { n: i } });
  }
  const ready = queue.keys.ready;
  const jobs = queue.keys.jobs;
  costs.push({
    group: 'queue',
    operation: "list a tenant's jobs by state (page of 20; 2,000 jobs of 20 tenants)",
    ours: await medianCost(RUNS, () => cost(() => queue.list('t3', { state: 'ready', limit: 20 }))),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: "naive: the queue's ready set in pages of 20 and their records, filtered, until 20 of the tenant's",
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          let found = 0;
          for (let start = 0; found < 20; start += 20) {
            const ids = await raw.zrange<string[]>(ready, start, start + 19);
            if (ids.length === 0) break;
            const records = await raw.hmget<Record<string, string>>(jobs, ...ids);
            for (const record of Object.values(records ?? {})) {
              if (typeof record === 'string' && record.includes('"tenant":"t3"')) found++;
            }
          }
        }),
      ),
    },
  });
}

// ---------------------------------------------------------------- cache: a namespace of 1,000,000 keys
log('costs: namespace invalidation of 1,000,000 keys (fills them first)');
{
  const MILLION = 1_000_000;
  const cache = new CacheService({ redis, keys, namespaces: ['catalog'] });
  await cache.set('acme', 'catalog:seed', { price: 0 }, { ttlMs: 3_600_000 });
  // Where the namespace's values live now (its current generation), from the cache's own pattern.
  const [, [seedKey]] = await redis.scan('0', cache.pattern('acme', 'catalog:seed'), 1_000_000);
  if (!seedKey) throw new Error('the seed value of the namespace is not where its pattern says');
  const base = seedKey.slice(0, -'seed'.length);
  const envelope = (await redis.get(seedKey)) as string;
  // Straight into the bench's own Redis, 100,000 per script: the fill is not what is measured.
  for (let from = 0; from < MILLION; from += 100_000) {
    await direct.eval(
      "for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do redis.call('SET', ARGV[1] .. i, ARGV[4], 'PX', 3600000) end",
      0,
      base,
      from,
      from + 99_999,
      envelope,
    );
  }
  const sample = Array.from({ length: 100 }, (_, i) => `catalog:${i * 9_973}`);
  const before = (await cache.mget('acme', sample)).filter(Boolean).length;
  if (before !== sample.length)
    throw new Error(`the namespace should serve its 1,000,000 values, served ${before} of 100`);
  costs.push({
    group: 'cache',
    operation: 'invalidate a namespace of 1,000,000 keys',
    ours: await cost(() => cache.invalidateNamespace('acme', 'catalog')),
    target: { commands: 1, roundTrips: 1 },
    reference: {
      name: 'SCAN + UNLINK of the same 1,000,000 keys (prefix invalidation, COUNT 1000)',
      cost: await cost(() => cache.invalidatePrefix('acme', 'catalog:')),
    },
  });
  const after = (await cache.mget('acme', sample)).filter(Boolean).length;
  if (after !== 0) throw new Error(`${after} old values of the invalidated namespace were served`);
  // The keys are gone (the reference deleted them); a cached read in a namespace stays one round trip.
  await cache.set('acme', 'catalog:hot', { price: 1 });
  await cache.get('acme', 'catalog:hot');
  costs.push({
    group: 'cache',
    operation: 'get in a namespace (hit)',
    ours: await medianCost(RUNS, () => cost(() => cache.get('acme', 'catalog:hot'))),
    target: { commands: 2, roundTrips: 1 },
    reference: {
      name: 'naive: GET the generation, then GET the value under it',
      cost: await medianCost(RUNS, () =>
        cost(async () => {
          await redis.get(keys.key('cache', 'acme', 'g:catalog'));
          await redis.get(seedKey);
        }),
      ),
    },
  });
}

// ---------------------------------------------------------------- the API, through the local stack
log('costs: API requests through the local stack; secret fetches');
const stack = await startBenchStack();
const apiToken = stack.tokens.main as string;
const apiCost = (op: () => Promise<unknown>) => costOf(stack.upstash, apiToken, direct, op);
const auth = { 'x-api-key': stack.apiKey, 'content-type': 'application/json' };
const secretFetches: Record<string, number> = {};
{
  // Cold: the first request builds the clients (one secret fetch per database) and reads the key set.
  stack.secrets.resetCounts();
  await http(`${stack.url}/cache/hot`, 'PUT', auth, '{"v":1}');
  secretFetches.coldStart = stack.secrets.totalFetches;
  stack.secrets.resetCounts();
  for (let i = 0; i < 100; i++) await http(`${stack.url}/cache/hot`, 'GET', auth);
  secretFetches.warm100 = stack.secrets.totalFetches;

  const get = () => http(`${stack.url}/cache/hot`, 'GET', auth);
  const naiveRedis = new UpstashRedisClient(
    createUpstashRedis({ mode: 'rest', url: stack.upstashUrl, token: apiToken }),
  );
  const library = new Ratelimit({
    redis: new Redis({ url: stack.upstashUrl, token: apiToken, enableTelemetry: false }),
    limiter: Ratelimit.slidingWindow(1_000_000, '60 s'),
    ephemeralCache: false,
    analytics: false,
    prefix: 'benchnaive-lib',
  });
  const naiveLimiter = new RateLimiter({
    redis: new UpstashRedisClient(
      createUpstashRedis({ mode: 'rest', url: stack.upstashUrl, token: apiToken }),
    ),
    keys: new KeyBuilder('benchnaive'),
    name: 'api',
    algorithm: 'sliding-window',
    limit: 1_000_000,
    windowMs: 60_000,
  });
  const naiveCache = new CacheService({
    redis: new UpstashRedisClient(
      createUpstashRedis({ mode: 'rest', url: stack.upstashUrl, token: apiToken }),
    ),
    keys: new KeyBuilder('benchnaive'),
  });
  const naiveSessions = new SessionService({
    redis: new UpstashRedisClient(
      createUpstashRedis({ mode: 'rest', url: stack.upstashUrl, token: apiToken }),
    ),
    keys: new KeyBuilder('benchnaive'),
  });
  const naiveSession = await naiveSessions.create('acme', 'u1', { a: 1 });
  costs.push({
    group: 'API',
    operation: 'authenticated GET /cache/{key}',
    ours: await medianCost(RUNS, () => apiCost(get)),
    target: { commands: 2, roundTrips: 1 },
    reference: {
      name: 'sequential: rate-limit check, then read',
      cost: await medianCost(RUNS, () =>
        apiCost(async () => {
          await naiveLimiter.check('acme', 'acme');
          await naiveCache.get('acme', 'hot');
        }),
      ),
    },
  });
  costs.push({
    group: 'API',
    operation: 'PUT /cache/{key}',
    ours: await medianCost(RUNS, () => apiCost(() => http(`${stack.url}/cache/hot`, 'PUT', auth, '{"v":2}'))),
    reference: {
      name: 'sequential: rate-limit check, then write',
      cost: await medianCost(RUNS, () =>
        apiCost(async () => {
          await naiveLimiter.check('acme', 'acme');
          await naiveCache.set('acme', 'hot', { v: 2 });
        }),
      ),
    },
  });
  const session = await fetch(`${stack.url}/sessions`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ userId: 'u1', data: { a: 1 } }),
  }).then((r) => r.json() as Promise<{ id: string }>);
  costs.push({
    group: 'API',
    operation: 'GET /sessions/{id}',
    ours: await medianCost(RUNS, () =>
      apiCost(() => http(`${stack.url}/sessions/${session.id}`, 'GET', auth)),
    ),
    target: { commands: 2, roundTrips: 1 },
    reference: {
      name: 'sequential: rate-limit check, then session get',
      cost: await medianCost(RUNS, () =>
        apiCost(async () => {
          await naiveLimiter.check('acme', 'acme');
          await naiveSessions.get('acme', naiveSession.id);
        }),
      ),
    },
  });
  costs.push({
    group: 'API',
    operation: 'POST /rate-limits/api/check',
    ours: await medianCost(RUNS, () =>
      apiCost(() => http(`${stack.url}/rate-limits/api/check`, 'POST', auth, '{"identifier":"u1"}')),
    ),
    reference: {
      name: 'sequential: API rate-limit check, then the named check',
      cost: await medianCost(RUNS, () =>
        apiCost(async () => {
          await naiveLimiter.check('acme', 'acme');
          await naiveLimiter.check('acme', 'u1');
        }),
      ),
    },
  });
  costs.push({
    group: 'API',
    operation: 'GET /rate-limits/api/{identifier} (read without consuming)',
    ours: await medianCost(RUNS, () => apiCost(() => http(`${stack.url}/rate-limits/api/u1`, 'GET', auth))),
    target: { commands: 2, roundTrips: 1 },
    reference: {
      name: 'sequential: API rate-limit check, then @upstash/ratelimit getRemaining',
      cost: await medianCost(RUNS, () =>
        apiCost(async () => {
          await naiveLimiter.check('acme', 'acme');
          await library.getRemaining('u1');
        }),
      ),
    },
  });

  // Idempotent writes: ours against Powertools Idempotency (its cache persistence layer over the
  // same Upstash client) placed where it would sit in the api function: after the API limit
  // check (a refused request must change nothing), around the session create.
  const idempotentCreate = powertoolsIdempotent(naiveRedis, (request: { key: string; userId: string }) =>
    naiveSessions.create('acme', request.userId, { a: 1 }),
  );
  const powertools = async (request: { key: string; userId: string }) => {
    await naiveLimiter.check('acme', 'acme');
    return idempotentCreate(request);
  };
  const keyed = (key: string, userId: string) =>
    http(
      `${stack.url}/sessions`,
      'POST',
      { ...auth, 'idempotency-key': key },
      JSON.stringify({ userId, data: { a: 1 } }),
    );
  costs.push({
    group: 'API',
    operation: 'POST /sessions with Idempotency-Key (first)',
    ours: await medianCost(RUNS, () => {
      const n = fresh('idem');
      return apiCost(() => keyed(n, n));
    }),
    target: { commands: 3, roundTrips: 2 },
    reference: {
      name: 'API limit check, then Powertools Idempotency 2.35 (cache persistence layer, same client) around the create',
      cost: await medianCost(RUNS, () => {
        const n = fresh('pt');
        return apiCost(() => powertools({ key: n, userId: n }));
      }),
    },
  });
  costs.push({
    group: 'API',
    operation: 'POST /sessions with Idempotency-Key (replayed)',
    ours: await medianCost(RUNS, async () => {
      const n = fresh('idem');
      await keyed(n, n);
      return apiCost(() => keyed(n, n));
    }),
    target: { commands: 2, roundTrips: 1 },
    reference: {
      name: 'Powertools Idempotency 2.35, the same request again',
      cost: await medianCost(RUNS, async () => {
        const n = fresh('pt');
        await powertools({ key: n, userId: n });
        return apiCost(() => powertools({ key: n, userId: n }));
      }),
    },
  });
  costs.push({
    group: 'API',
    operation: 'PUT /cache/{key} with Idempotency-Key (first)',
    ours: await medianCost(RUNS, () => {
      const n = fresh('idem');
      return apiCost(() =>
        http(`${stack.url}/cache/${n}`, 'PUT', { ...auth, 'idempotency-key': n }, '{"v":1}'),
      );
    }),
    reference: {
      name: 'sequential: API rate-limit check, SET NX of the key, the write, SET of the answer',
      cost: await medianCost(RUNS, () => {
        const n = fresh('naive-idem');
        return apiCost(async () => {
          await naiveLimiter.check('acme', 'acme');
          await naiveRedis.set(`benchnaive:idem:${n}`, 'running', { nx: true, px: 86_400_000 });
          await naiveCache.set('acme', n, { v: 1 });
          await naiveRedis.set(`benchnaive:idem:${n}`, '{"status":200}', { px: 86_400_000 });
        });
      }),
    },
  });
}

// ---------------------------------------------------------------- every API route: cost per 1,000 requests
log('costs: every API route, priced per 1,000 requests');
/** One route's cost per request, and per 1,000 requests in dollars at the configured price. */
export interface RouteCostRow {
  readonly route: string;
  readonly ours: Cost;
  readonly usdPer1000: number;
}
/** The price the dollar figures use: the bench database's plan in the configuration. */
export interface BenchPrice {
  readonly plan: string;
  readonly pricePer100kCommands: number;
  readonly readOn: string;
}
const routeCosts: RouteCostRow[] = [];
const plan = stack.config.databases.main?.plan;
if (!plan) throw new Error('the bench stack has no database "main"');
const price: BenchPrice = {
  plan: plan.preset,
  pricePer100kCommands: plan.pricePer100kCommands,
  readOn: PRICES_READ_ON,
};
{
  const scenario = httpScenarioClient(stack.url, stack.apiKey);
  let n = 0;
  for (const step of API_SCENARIO) {
    // The warm-up call loads the route's scripts: the rows are a warm container's cost.
    const ours = await medianCost(RUNS, () => runStep(scenario, step, n++, (request) => apiCost(request)));
    routeCosts.push({ route: stepName(step), ours, usdPer1000: commandsCostUsd(plan, ours.billed * 1000) });
  }
}

// ---------------------------------------------------------------- overhead: gateway vs handler
log('overhead: local gateway vs the handler called directly');
/** Warm latency and throughput of a path next to the path it wraps. */
export interface Overhead {
  gateway?: PairedLatency;
  /** Requests per second with `concurrency` in flight; ratio = direct handler / gateway. */
  gatewayConcurrent?: {
    concurrency: number;
    subjectPerSecond: number;
    referencePerSecond: number;
    ratio: number;
  };
  upstashSingle?: PairedLatency;
  upstashPipeline?: PairedLatency;
  /** The endpoint against the same client's floor: a server that answers at once (lib.ts startHttpFloor). */
  upstashFloorSingle?: PairedLatency;
  upstashFloorPipeline?: PairedLatency;
  /** The endpoint through the leanest client (lib.ts leanRestClient) against ioredis: its own cost. */
  upstashLeanSingle?: PairedLatency;
  upstashLeanPipeline?: PairedLatency;
  /** PINGs from another client answered while one 10 MB pipeline of INCRs runs. */
  upstashFairness?: {
    commands: number;
    bodyBytes: number;
    pipelineMs: number;
    pings: number;
    pingP50Ms: number;
    pingP99Ms: number;
    pingMaxMs: number;
  };
}
const overhead: Overhead = {};
{
  // The event the gateway builds for the same request, with the authorizer's context.
  const event = () => apiEventFor('GET', '/cache/hot', stack.tenant);
  const viaGateway = () => http(`${stack.url}/cache/hot`, 'GET', auth);
  const viaHandler = () => stack.handlers.api(event(), localContext('api', 10_000));
  overhead.gateway = await pairedLatency(
    { name: 'GET /cache/hot through the local gateway (HTTP, authorizer cached)', op: viaGateway },
    { name: 'the api handler called directly with the same event', op: viaHandler },
    { runs: RUNS, n: 200 },
  );
  const concurrency = 16;
  overhead.gatewayConcurrent = {
    concurrency,
    ...(await pairedThroughput(viaGateway, viaHandler, { runs: RUNS, total: 400, concurrency })),
  };
}

// ---------------------------------------------------------------- overhead: local Upstash endpoint vs ioredis
log('overhead: local Upstash endpoint vs a direct Redis client');
{
  const single = new Redis({
    url: endpoint.url,
    token: TOKEN,
    enableTelemetry: false,
    enableAutoPipelining: false,
  });
  await direct.set('bench:one', 'v');
  overhead.upstashSingle = await pairedLatency(
    { name: 'GET via the local Upstash endpoint (@upstash/redis)', op: () => single.get('bench:one') },
    { name: 'GET via ioredis', op: () => direct.get('bench:one') },
    { runs: RUNS, n: 300 },
  );
  const values = Array.from({ length: 100 }, (_, i) => [`bench:p${i}`, String(i)] as const);
  overhead.upstashPipeline = await pairedLatency(
    {
      name: 'pipeline of 100 SETs via the local Upstash endpoint',
      op: () => {
        const p = single.pipeline();
        for (const [k, v] of values) p.set(k, v);
        return p.exec();
      },
    },
    {
      name: 'pipeline of 100 SETs via ioredis',
      op: () => {
        const p = direct.pipeline();
        for (const [k, v] of values) p.set(k, v);
        return p.exec();
      },
    },
    { runs: RUNS, n: 60, per: 100, warmUp: 10 },
  );

  // The same client against a server that answers at once: the HTTP + JSON floor of any endpoint.
  // Timed against the endpoint itself, so the difference is what the endpoint adds (its Redis
  // round trip and its own work), measured interleaved in one run.
  const floor = await startHttpFloor();
  const atFloor = new Redis({
    url: floor.url,
    token: TOKEN,
    enableTelemetry: false,
    enableAutoPipelining: false,
  });
  overhead.upstashFloorSingle = await pairedLatency(
    { name: 'GET via the local Upstash endpoint (@upstash/redis)', op: () => single.get('bench:one') },
    {
      name: 'GET via @upstash/redis against a server that answers at once',
      op: () => atFloor.get('bench:one'),
    },
    { runs: RUNS, n: 300 },
  );
  const pipelineOf = (client: Redis) => () => {
    const p = client.pipeline();
    for (const [k, v] of values) p.set(k, v);
    return p.exec();
  };
  overhead.upstashFloorPipeline = await pairedLatency(
    { name: 'pipeline of 100 SETs via the local Upstash endpoint', op: pipelineOf(single) },
    {
      name: 'pipeline of 100 SETs via @upstash/redis against a server that answers at once',
      op: pipelineOf(atFloor),
    },
    { runs: RUNS, n: 60, per: 100, warmUp: 10 },
  );
  await floor.close();

  // The endpoint's own cost: the same work through the leanest HTTP client against ioredis.
  const lean = leanRestClient(endpoint.url, TOKEN);
  overhead.upstashLeanSingle = await pairedLatency(
    {
      name: 'GET via the local Upstash endpoint (one keep-alive node:http socket)',
      op: () => lean.command(['GET', 'bench:one']),
    },
    { name: 'GET via ioredis', op: () => direct.get('bench:one') },
    { runs: RUNS, n: 300 },
  );
  const setCommands = values.map(([k, v]) => ['SET', k, v] as const);
  overhead.upstashLeanPipeline = await pairedLatency(
    {
      name: 'pipeline of 100 SETs via the local Upstash endpoint (one keep-alive node:http socket)',
      op: () => lean.pipeline(setCommands),
    },
    {
      name: 'pipeline of 100 SETs via ioredis',
      op: () => {
        const p = direct.pipeline();
        for (const [k, v] of values) p.set(k, v);
        return p.exec();
      },
    },
    { runs: RUNS, n: 60, per: 100, warmUp: 10 },
  );
  lean.close();

  // Fairness: PINGs from another client while a pipeline as large as Upstash accepts (10 MB) runs.
  const one = JSON.stringify(['INCR', 'bench:fair']);
  const count = Math.floor((10 * 1024 * 1024 - 2) / (one.length + 1));
  const body = `[${new Array(count).fill(one).join(',')}]`;
  let done = false;
  const startedAt = performance.now();
  const big = fetch(`${endpoint.url}/pipeline`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body,
  }).then(async (res) => {
    await res.arrayBuffer();
    done = true;
    return { status: res.status, ms: performance.now() - startedAt };
  });
  const pings: number[] = [];
  while (!done) {
    const t = performance.now();
    await single.ping();
    if (!done) pings.push(performance.now() - t);
  }
  const result = await big;
  if (result.status !== 200) throw new Error(`the 10 MB pipeline answered ${result.status}`);
  overhead.upstashFairness = {
    commands: count,
    bodyBytes: body.length,
    pipelineMs: round(result.ms, 0),
    pings: pings.length,
    pingP50Ms: round(percentile(pings, 50), 1),
    pingP99Ms: round(percentile(pings, 99), 1),
    pingMaxMs: round(Math.max(...pings), 1),
  };
}

// ---------------------------------------------------------------- cold start of the bundles
const cold = await measureColdStarts(stack, log, coldStartOptions);

// ---------------------------------------------------------------- done
await stack.stop();
closeHttp();
await endpoint.close();
direct.disconnect();
await server.stop();
const durationMs = Math.round(performance.now() - started);
const results: BenchResults = {
  date: new Date().toISOString(),
  machine: {
    os: osType(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
  },
  node: process.version,
  runs: RUNS,
  durationMs,
  costs,
  routeCosts,
  price,
  rateLimits,
  secretFetches,
  coldStart: cold.coldStart,
  coldStartBreakdown: cold.breakdown,
  sdkPackaging: cold.sdkPackaging,
  coldStartRuns: cold.runs,
  ...(cold.otherNode ? { coldStartOtherNode: cold.otherNode } : {}),
  ...(cold.httpArtifact ? { httpArtifact: cold.httpArtifact } : {}),
  ...(cold.sourceMaps ? { sourceMaps: cold.sourceMaps } : {}),
  overhead,
};
if (CHECK) {
  const committed = JSON.parse(
    readFileSync(new URL('results.json', import.meta.url), 'utf8'),
  ) as BenchResults;
  const { lines, failed } = compareResults(committed, results);
  for (const line of lines) console.log(line);
  log(`checked in ${round(durationMs / 1000, 1)} s against bench/results.json of ${committed.date}`);
  process.exit(failed ? 1 : 0);
}
if (WRITE) {
  writeReport(results);
  log(
    `done in ${round(durationMs / 1000, 1)} s: bench/results.json, bench/RESULTS.md, bench/costs.svg written`,
  );
} else {
  console.log(markdown(results));
  log(
    `done in ${round(durationMs / 1000, 1)} s; nothing written (--write rewrites bench/results.json, RESULTS.md, costs.svg)`,
  );
}
process.exit(0);
