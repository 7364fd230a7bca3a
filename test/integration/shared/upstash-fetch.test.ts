import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUpstashRedis } from '../../../lambda/shared/client';
import { classifyFailure } from '../../../lambda/shared/failures';
import { UpstashRedisClient } from '../../../lambda/shared/redis';
import { fetch as nodeFetch, useNodeTransportFor } from '../../../lambda/shared/upstash-fetch';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';

/**
 * The Upstash clients' transport in the Lambda bundles (lambda/shared/upstash-fetch.ts): the same
 * answers and the same failures as Node's fetch (undici), which the rest of the runtime was
 * written against; both are run on the same server, side by side.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let base = '';
let handle: Handler = (_req, res) => res.end('{}');
const seen: Array<{ path: string; headers: IncomingMessage['headers']; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      handle(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Only /upstash/... stands for a database; the rest of the server is "any other origin".
  useNodeTransportFor(`${base}/upstash/`);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  seen.length = 0;
  handle = (_req, res) => res.end('{}');
});

/** The same request through undici and through the transport; each outcome, settled. */
async function both(path: string, init: RequestInit = {}) {
  const undici = await globalThis.fetch(`${base}${path}`, init).then(
    async (res) => ({ res, text: await res.text() }),
    (error: unknown) => ({ error }),
  );
  const node = await nodeFetch(`${base}${path}`, init).then(
    async (res) => ({ res, text: await res.text() }),
    (error: unknown) => ({ error }),
  );
  return { undici, node };
}

describe('the bundles’ fetch for Upstash URLs', () => {
  it('sends a registered URL over node:http, and leaves any other to the global fetch', async () => {
    await nodeFetch(`${base}/upstash/get/k`, { method: 'POST', body: '["GET","k"]' });
    await nodeFetch(`${base}/elsewhere`, { method: 'POST', body: '{}' });
    await nodeFetch(`${base}/upstash-lookalike`, { method: 'POST', body: '{}' });

    // undici names itself and asks for compression; node:http sends only what it is given.
    expect(seen.map((s) => [s.path, s.headers['user-agent'] ?? null])).toEqual([
      ['/upstash/get/k', null],
      ['/elsewhere', 'node'],
      ['/upstash-lookalike', 'node'],
    ]);
    expect(seen[0]?.body).toBe('["GET","k"]');
    expect(seen[0]?.headers.connection).toBe('keep-alive');
  });

  it('answers as fetch does: status, ok, headers, text and JSON', async () => {
    handle = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json', 'upstash-sync-token': 'sync-1' });
      res.end('{"error":"Unauthorized"}');
    };
    const { undici, node } = await both('/upstash/get/k', {
      method: 'POST',
      headers: { authorization: 'Bearer x', 'content-type': 'application/json' },
      body: '["GET","k"]',
    });
    for (const outcome of [undici, node]) {
      if (!('res' in outcome)) throw new Error('expected an answer');
      expect(outcome.res.status).toBe(401);
      expect(outcome.res.ok).toBe(false);
      expect(outcome.res.headers.get('Upstash-Sync-Token')).toBe('sync-1');
      expect(outcome.res.headers.get('x-missing')).toBeNull();
      expect(outcome.text).toBe('{"error":"Unauthorized"}');
    }
    expect(seen[1]?.headers.authorization).toBe('Bearer x');
  });

  it('fails like undici when nothing listens: not sent, so a retry is safe', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    useNodeTransportFor(url);

    const failures = await Promise.all(
      [globalThis.fetch, nodeFetch].map((f) =>
        f(`${url}/get/k`, { method: 'POST', body: '[]' }).catch((e) => e),
      ),
    );
    for (const error of failures) {
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe('fetch failed');
      expect(classifyFailure(error)).toEqual({ type: 'unavailable', reason: 'ECONNREFUSED', sent: false });
    }
  });

  it('fails like undici when the connection drops after the request was sent: maybe applied', async () => {
    handle = (req) => req.socket.destroy();
    const { undici, node } = await both('/upstash/eval', { method: 'POST', body: '["EVAL","..."]' });
    for (const outcome of [undici, node]) {
      if (!('error' in outcome)) throw new Error('expected a failure');
      expect(classifyFailure(outcome.error)).toMatchObject({ type: 'unavailable', sent: true });
    }
  });

  it('fails with the signal’s reason when the caller gives up, as undici does', async () => {
    handle = () => {}; // never answers
    const reason = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const attempts = [globalThis.fetch, nodeFetch].map((f) => {
      const controller = new AbortController();
      const sent = f(`${base}/upstash/get/slow`, { method: 'POST', body: '[]', signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      return sent.catch((e) => e);
    });
    for (const error of await Promise.all(attempts)) {
      expect(error).toBe(reason);
      expect(classifyFailure(error)).toEqual({ type: 'unavailable', reason: 'timeout', sent: true });
    }
  });

  it('fails a cut-off body as a dropped connection (undici only notices when the body is read)', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"result":');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const error = await nodeFetch(`${base}/upstash/get/k`, { method: 'POST', body: '[]' }).catch((e) => e);
    expect(classifyFailure(error)).toMatchObject({ type: 'unavailable', sent: true });
  });
});

describe('@upstash/redis over the bundles’ fetch', () => {
  const original = globalThis.fetch;
  // As in a bundle: the SDK's `fetch` is this module's (here through the global, for the test).
  beforeAll(() => {
    globalThis.fetch = nodeFetch as typeof fetch;
  });
  afterAll(() => {
    globalThis.fetch = original;
  });

  it('runs commands, auto-pipelined batches and scripts against the local Upstash endpoint', async () => {
    const { url, token } = sharedEndpoint();
    const redis = new UpstashRedisClient(createUpstashRedis({ mode: 'rest', url, token }));
    const key = `${randomPrefix()}:k`;

    expect(await redis.set(key, 'v é', { px: 60_000 })).toBe(true);
    expect(await Promise.all([redis.get(key), redis.pttl(key), redis.exists([key])])).toEqual([
      'v é',
      expect.any(Number),
      1,
    ]);
    expect(await redis.eval('return ARGV[1]', [key], ['scripted'])).toBe('scripted');
    await expect(redis.evalsha('0'.repeat(40), [key], [])).rejects.toThrow(/NOSCRIPT/);
    expect(await redis.del([key])).toBe(1);
  });

  it('reads a rejected token as a credentials problem, as over undici', async () => {
    const { url } = sharedEndpoint();
    const redis = new UpstashRedisClient(createUpstashRedis({ mode: 'rest', url, token: 'wrong' }));
    const error = await redis.get('k').catch((e) => e);
    expect(classifyFailure(error)).toEqual({ type: 'auth' });
  });
});
