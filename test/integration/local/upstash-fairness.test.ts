import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { UpstashEndpoint } from '../../../local/upstash/server';

/**
 * One request cannot hold the others: a pipeline as large as Upstash accepts (10 MB) runs in
 * slices, and other clients are served between them. Against a Redis and an endpoint of the
 * file's own, so the big request competes with this test's reads alone.
 *
 * The assertions are about order and counts, not absolute times (the machine is shared): reads
 * sent while the pipeline runs must see its counter part-way (after it started, before it ended),
 * many times over. A pipeline that held the endpoint or the Redis connection would let at most
 * one read through before it ended. The bench measures the read latency itself (bench/RESULTS.md).
 */
const TOKEN = 'fairness-token';
let server: RedisServer;
let endpoint: UpstashEndpoint;
let reader: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  endpoint = await UpstashEndpoint.start({ databases: [{ token: TOKEN, redisUrl: server.url }] });
  reader = new Redis({
    url: endpoint.url,
    token: TOKEN,
    enableTelemetry: false,
    enableAutoPipelining: false,
  });
});

afterAll(async () => {
  await endpoint.close();
  await server.stop();
});

/** A pipeline body of INCRs on `key`, as close to 10 MB as fits under the limit. */
function bigPipeline(key: string): { body: string; count: number } {
  const one = JSON.stringify(['INCR', key]);
  const count = Math.floor((10 * 1024 * 1024 - 2) / (one.length + 1));
  return { body: `[${new Array(count).fill(one).join(',')}]`, count };
}

const post = (path: string, body: string) =>
  fetch(endpoint.url + path, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body });

describe('a 10 MB pipeline', () => {
  it('runs whole and in order while other clients are answered between its slices', async () => {
    const { body, count } = bigPipeline('fair:n');
    expect(body.length).toBeLessThanOrEqual(10 * 1024 * 1024);
    expect(count).toBeGreaterThan(500_000);
    let done = false;
    const started = performance.now();
    const pipeline = post('/pipeline', body).then(async (res) => {
      const text = await res.text();
      done = true;
      return { status: res.status, text, ms: performance.now() - started };
    });
    const seen: number[] = [];
    const latencies: number[] = [];
    while (!done) {
      const t = performance.now();
      const [value, pong] = await Promise.all([reader.get<number>('fair:n'), reader.ping()]);
      latencies.push(performance.now() - t);
      expect(pong).toBe('PONG');
      if (!done) seen.push(value ?? 0);
    }
    const result = await pipeline;
    expect(result.status).toBe(200);
    const items = JSON.parse(result.text) as Array<{ result: number }>;
    expect(items).toHaveLength(count);
    expect(items[0]).toEqual({ result: 1 });
    expect(items[count - 1]).toEqual({ result: count });
    expect(await reader.get('fair:n')).toBe(count);

    const partWay = seen.filter((v) => v > 0 && v < count);
    latencies.sort((x, y) => x - y);
    console.log(
      `10 MB pipeline (${count} INCRs): ${Math.round(result.ms)} ms; ${latencies.length} reads meanwhile, ` +
        `${partWay.length} saw it part-way; read p50 ${latencies[Math.floor(latencies.length / 2)]?.toFixed(1)} ms, ` +
        `max ${latencies[latencies.length - 1]?.toFixed(1)} ms`,
    );
    // Served between slices, many times over, each read seeing the counter further along.
    expect(partWay.length).toBeGreaterThanOrEqual(20);
    expect(partWay).toEqual([...partWay].sort((x, y) => x - y));
  });

  it('runs a long transaction atomically, on a connection of its own that it closes', async () => {
    const n = 5000;
    const body = JSON.stringify(Array.from({ length: n }, () => ['INCR', 'fair:tx']));
    const concurrent = Array.from({ length: 50 }, () => reader.incr('fair:tx'));
    const [res] = await Promise.all([post('/multi-exec', body), ...concurrent]);
    expect(res.status).toBe(200);
    const results = ((await res.json()) as Array<{ result: number }>).map((r) => r.result);
    // Nothing came between the transaction's commands.
    expect(results).toHaveLength(n);
    for (let i = 1; i < n; i++) expect(results[i]).toBe((results[0] as number) + i);
    expect(await reader.get('fair:tx')).toBe(n + 50);
  });

  it('refuses a body over 10 MB with 413 JSON before running any of it', async () => {
    const { body } = bigPipeline('fair:over');
    const res = await post(
      '/pipeline',
      `${body.slice(0, -1)},${JSON.stringify(['INCR', 'fair:over'])}]`.padEnd(10 * 1024 * 1024 + 1),
    );
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: expect.stringContaining('max request size exceeded') });
    expect(await reader.exists('fair:over')).toBe(0);
  });
});
