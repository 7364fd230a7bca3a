import { Redis } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { UpstashEndpoint } from '../../../local/upstash/server';

/**
 * Pub/sub over SSE with the official client, against an endpoint and a Redis of the file's own,
 * so that Redis's client list counts exactly this endpoint's connections.
 */
const A = 'pubsub-token-a';
const B = 'pubsub-token-b';

let server: RedisServer;
let admin: IORedis;
let endpoint: UpstashEndpoint;
let a: Redis;
let b: Redis;

type Subscriber = ReturnType<Redis['subscribe']>;

/** Resolves once the stream's first line (`subscribe` / `psubscribe`) has arrived. */
const ready = (subscriber: Subscriber, event: 'subscribe' | 'psubscribe' = 'subscribe') =>
  new Promise<number>((resolve) => subscriber.on(event, (count) => resolve(count as number)));

/** Collects what a subscriber receives. */
function collect<T>(subscriber: Subscriber, event: 'message' | 'pmessage' = 'message'): T[] {
  const got: T[] = [];
  subscriber.on(event, (data) => got.push(data as T));
  return got;
}

/** Connections Redis has open, by client type. */
async function connections(): Promise<{ all: number; pubsub: number }> {
  const list = String(await admin.call('CLIENT', 'LIST'))
    .trim()
    .split('\n');
  // The admin connection itself is not the endpoint's.
  return { all: list.length - 1, pubsub: list.filter((line) => / flags=P /.test(line)).length };
}

beforeAll(async () => {
  server = await startRedisServer();
  admin = new IORedis(server.url);
  endpoint = await UpstashEndpoint.start({
    databases: [
      { token: A, redisUrl: `${server.url}/0` },
      { token: B, redisUrl: `${server.url}/1` },
    ],
  });
  a = new Redis({ url: endpoint.url, token: A, enableTelemetry: false });
  b = new Redis({ url: endpoint.url, token: B, enableTelemetry: false });
});

afterAll(async () => {
  await endpoint.close();
  admin.disconnect();
  await server.stop();
});

describe('pub/sub over SSE', () => {
  it('delivers what another client publishes, in order, JSON and plain strings alike', async () => {
    const subscriber = a.subscribe<unknown>('news');
    expect(await ready(subscriber)).toBe(1);
    const got = collect<{ channel: string; message: unknown }>(subscriber);
    const publisher = new Redis({ url: endpoint.url, token: A, enableTelemetry: false });
    expect(await publisher.publish('news', 'hello, world')).toBe(1);
    expect(await publisher.publish('news', { nested: { list: [1, 'two'] } })).toBe(1);
    expect(await publisher.publish('news', 'two\nlines')).toBe(1);
    await expect.poll(() => got.length).toBe(3);
    expect(got).toEqual([
      { channel: 'news', message: 'hello, world' },
      { channel: 'news', message: { nested: { list: [1, 'two'] } } },
      { channel: 'news', message: 'two\nlines' },
    ]);
    await subscriber.unsubscribe();
  });

  it('matches patterns with psubscribe and names the channel of each message', async () => {
    // The client JSON-parses pmessage payloads without a fallback (a plain string is an 'error'
    // event there, against Upstash too), so the messages here are JSON values.
    const subscriber = a.psubscribe<{ n: string }>('news.*');
    await ready(subscriber, 'psubscribe');
    const got = collect<{ pattern: string; channel: string; message: { n: string } }>(subscriber, 'pmessage');
    await a.publish('news.sport', { n: 'goal' });
    await a.publish('weather', { n: 'rain' });
    await a.publish('news.tech', { n: 'chip' });
    await expect.poll(() => got.length).toBe(2);
    expect(got).toEqual([
      { pattern: 'news.*', channel: 'news.sport', message: { n: 'goal' } },
      { pattern: 'news.*', channel: 'news.tech', message: { n: 'chip' } },
    ]);
    // Without the client's deserialization a plain string arrives as it was published.
    const raw = new Redis({
      url: endpoint.url,
      token: A,
      enableTelemetry: false,
      automaticDeserialization: false,
    });
    const plain = raw.psubscribe<string>('news.*');
    await ready(plain, 'psubscribe');
    const plainGot = collect<{ message: string }>(plain, 'pmessage');
    expect(await a.publish('news.sport', 'goal, scored')).toBe(2);
    await expect.poll(() => plainGot.map((m) => m.message)).toEqual(['goal, scored']);
    await Promise.all([subscriber.unsubscribe(), plain.unsubscribe()]);
  });

  it('stops delivering after unsubscribe, and drops the channel in Redis', async () => {
    const subscriber = a.subscribe<string>('short-lived');
    await ready(subscriber);
    const got = collect<{ message: string }>(subscriber);
    expect(await a.publish('short-lived', 'one')).toBe(1);
    await expect.poll(() => got.length).toBe(1);
    await subscriber.unsubscribe();
    await expect.poll(() => a.exec(['PUBSUB', 'NUMSUB', 'short-lived'])).toEqual(['short-lived', 0]);
    expect(await a.publish('short-lived', 'two')).toBe(0);
    // A later subscriber on the same channel gets what is published from then on, and only that.
    const again = a.subscribe<string>('short-lived');
    await ready(again);
    const later = collect<{ message: string }>(again);
    await a.publish('short-lived', 'three');
    await expect.poll(() => later.map((m) => m.message)).toEqual(['three']);
    expect(got.map((m) => m.message)).toEqual(['one']);
    await again.unsubscribe();
  });

  it("keeps a token's channels its own", async () => {
    const inA = a.subscribe<string>('shared-name');
    const inB = b.subscribe<string>('shared-name');
    await Promise.all([ready(inA), ready(inB)]);
    const gotA = collect<{ message: string }>(inA);
    const gotB = collect<{ message: string }>(inB);
    expect(await a.publish('shared-name', 'for a')).toBe(1);
    expect(await b.publish('shared-name', 'for b')).toBe(1);
    await expect.poll(() => gotA.length + gotB.length).toBe(2);
    expect(gotA.map((m) => m.message)).toEqual(['for a']);
    expect(gotB.map((m) => m.message)).toEqual(['for b']);
    // A pattern of A's sees A's channels only.
    const all = a.psubscribe<number>('*');
    await ready(all, 'psubscribe');
    const seen = collect<{ channel: string; message: number }>(all, 'pmessage');
    await b.publish('elsewhere', 2);
    await a.publish('here', 1);
    await expect.poll(() => seen.length).toBe(1);
    expect(seen).toEqual([{ pattern: '*', channel: 'here', message: 1 }]);
    await Promise.all([inA.unsubscribe(), inB.unsubscribe(), all.unsubscribe()]);
  });

  it('serves keyspace notifications of the token’s database as database 0', async () => {
    expect(await a.exec(['CONFIG', 'SET', 'notify-keyspace-events', 'K$'])).toBe('OK');
    try {
      const raw = new Redis({
        url: endpoint.url,
        token: A,
        enableTelemetry: false,
        automaticDeserialization: false,
      });
      const subscriber = raw.psubscribe<string>('__keyspace@0__:watched*');
      await ready(subscriber, 'psubscribe');
      const got = collect<{ channel: string; message: string }>(subscriber, 'pmessage');
      await b.set('watched-in-b', 1);
      await a.set('watched-in-a', 1);
      await expect.poll(() => got.length).toBe(1);
      expect(got[0]).toMatchObject({ channel: '__keyspace@0__:watched-in-a', message: 'set' });
      await subscriber.unsubscribe();
    } finally {
      await a.exec(['CONFIG', 'SET', 'notify-keyspace-events', '']);
    }
  });

  it('serves 100 subscribers of one channel over one Redis connection, and leaves none behind', async () => {
    await expect.poll(() => endpoint.streams).toBe(0);
    await expect.poll(connections).toEqual({ all: 2, pubsub: 0 });
    const before = await connections();
    const subscribers = Array.from({ length: 100 }, () => a.subscribe<number>('crowd'));
    await Promise.all(subscribers.map((s) => ready(s)));
    const received = subscribers.map((s) => collect<{ message: number }>(s));
    // The endpoint's two database connections, plus one subscriber connection for all 100.
    expect(await connections()).toEqual({ all: before.all + 1, pubsub: 1 });
    for (let i = 0; i < 20; i++) expect(await a.publish('crowd', i)).toBe(100);
    await expect.poll(() => received.every((got) => got.length === 20)).toBe(true);
    for (const got of received)
      expect(got.map((m) => m.message)).toEqual(Array.from({ length: 20 }, (_, i) => i));

    await Promise.all(subscribers.map((s) => s.unsubscribe()));
    await expect.poll(() => endpoint.streams).toBe(0);
    await expect.poll(connections).toEqual(before);
    expect(await a.exec(['PUBSUB', 'NUMSUB', 'crowd'])).toEqual(['crowd', 0]);
    expect(await a.publish('crowd', 'nobody')).toBe(0);
  });

  it('drops a stream whose client goes away without unsubscribing', async () => {
    const abort = new AbortController();
    const res = await fetch(`${endpoint.url}/subscribe/abandoned`, {
      method: 'POST',
      headers: { authorization: `Bearer ${A}`, accept: 'text/event-stream' },
      body: '[]',
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: subscribe,abandoned,1\n\n');
    expect(await a.publish('abandoned', 'still here')).toBe(1);
    abort.abort();
    await expect.poll(() => endpoint.streams).toBe(0);
    expect(await a.publish('abandoned', 'gone')).toBe(0);
  });

  it('answers a bad subscribe request with JSON', async () => {
    const wrongToken = await fetch(`${endpoint.url}/subscribe/x`, {
      method: 'POST',
      headers: { authorization: 'Bearer no' },
    });
    expect(wrongToken.status).toBe(401);
    const badPath = await fetch(`${endpoint.url}/subscribe/%E0%A4%A`, {
      method: 'POST',
      headers: { authorization: `Bearer ${A}` },
    });
    expect(badPath.status).toBe(400);
    expect(await badPath.json()).toEqual({ error: expect.stringMatching(/^ERR malformed subscribe path/) });
    const put = await fetch(`${endpoint.url}/subscribe/x`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${A}` },
    });
    expect(put.status).toBe(405);
  });

  // Last: it stops the file's Redis.
  it('answers 503 for a new stream while Redis is away, and an open stream hears messages again once it is back', async () => {
    const subscriber = a.subscribe<string>('survivor');
    await ready(subscriber);
    const got = collect<{ message: string }>(subscriber);
    await a.publish('survivor', 'before');
    await expect.poll(() => got.length).toBe(1);
    await server.stop();
    const down = await fetch(`${endpoint.url}/subscribe/latecomer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${A}` },
    });
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ error: expect.stringMatching(/^ERR Redis is unavailable/) });
    server = await startRedisServer({ port: server.port });
    // Re-subscribed by itself: PUBLISH counts the stream again once Redis holds the subscription.
    await expect
      .poll(() => a.publish('survivor', 'after').catch(() => -1), { timeout: 10_000, interval: 100 })
      .toBe(1);
    await expect.poll(() => got.map((m) => m.message)).toContain('after');
    await subscriber.unsubscribe();
  });
});
