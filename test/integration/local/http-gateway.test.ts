import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RouteShape } from '../../../lambda/shared/routes';
import { type AuthorizerDecision, HttpGateway } from '../../../local/http-gateway';
import { send } from '../../helpers/http-client';

/**
 * The local API gateway against the payload format 2.0 contract (AWS developer guide, "Working
 * with AWS Lambda proxy integrations for HTTP APIs"), with stand-in handlers that record what
 * they receive.
 */

const ROUTES: RouteShape[] = [
  { method: 'GET', path: '/open', auth: false },
  { method: 'GET', path: '/items/{id}', auth: true },
  { method: 'POST', path: '/items/{id}/tags', auth: true },
];

describe('HttpGateway', () => {
  let gateway: HttpGateway;
  const events: APIGatewayProxyEventV2[] = [];
  let reply: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2> = async () => ({
    statusCode: 200,
    body: '{}',
  });
  let decide: (key: string) => AuthorizerDecision | Promise<AuthorizerDecision> = (key) => ({
    isAuthorized: key === 'good',
    context: { tenant: 'acme', scopes: '*' },
  });

  beforeAll(async () => {
    gateway = await HttpGateway.start({
      routes: ROUTES,
      handler: async (event) => {
        events.push(event);
        return reply(event);
      },
      timeoutMs: 300,
      authorizer: {
        handler: async (event) => decide(event.identitySource[0] as string),
        identityHeader: 'x-api-key',
        cacheTtlMs: 60_000,
      },
    });
  });
  afterAll(async () => {
    await gateway.close();
  });
  beforeEach(() => {
    events.length = 0;
    gateway.clearAuthorizerCache();
    reply = async () => ({ statusCode: 200, body: '{}' });
  });

  const last = (): APIGatewayProxyEventV2 => {
    const event = events.at(-1);
    if (!event) throw new Error('the handler was not called');
    return event;
  };

  describe('events', () => {
    it('builds a payload 2.0 event field by field', async () => {
      await send(`${gateway.url}/items/a%20b?x=1&x=2&y=%C3%A9&flag`, {
        method: 'GET',
        headers: { 'x-api-key': 'good', 'X-Multi': 'one', cookie: 'a=1; b=2', 'user-agent': 'probe/1' },
      });
      const event = last();
      expect(event).toMatchObject({
        version: '2.0',
        routeKey: 'GET /items/{id}',
        rawPath: '/items/a%20b',
        rawQueryString: 'x=1&x=2&y=%C3%A9&flag',
        cookies: ['a=1', 'b=2'],
        queryStringParameters: { x: '1,2', y: 'é', flag: '' },
        pathParameters: { id: 'a b' },
        isBase64Encoded: false,
      });
      expect(event.headers).toMatchObject({
        'x-api-key': 'good',
        'x-multi': 'one',
        'user-agent': 'probe/1',
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-proto': 'http',
        'x-forwarded-port': new URL(gateway.url).port,
      });
      // The Cookie header moves to `cookies`.
      expect('cookie' in event.headers).toBe(false);
      expect(Object.keys(event.headers).every((h) => h === h.toLowerCase())).toBe(true);
      expect(event.body).toBeUndefined();
      expect(event.requestContext).toMatchObject({
        routeKey: 'GET /items/{id}',
        stage: '$default',
        http: {
          method: 'GET',
          path: '/items/a%20b',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'probe/1',
        },
        authorizer: { lambda: { tenant: 'acme', scopes: '*' } },
      });
      expect(event.requestContext).toMatchObject({
        accountId: expect.stringMatching(/^\d{12}$/),
        apiId: 'local',
      });
      expect(event.requestContext.domainName).toBe(new URL(gateway.url).host);
      expect(event.requestContext.domainPrefix).toBe(new URL(gateway.url).host.split('.')[0]);
      expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5_000);
      expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(event.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    });

    it('passes query parameters and headers named __proto__ or constructor as data', async () => {
      await send(`${gateway.url}/items/a?__proto__=1&constructor=2&constructor=3`, {
        method: 'GET',
        headers: { 'x-api-key': 'good', constructor: 'c' },
      });
      const event = last();
      const query = event.queryStringParameters as Record<string, string>;
      expect(Object.keys(query).sort()).toEqual(['__proto__', 'constructor']);
      expect([Object.getOwnPropertyDescriptor(query, '__proto__')?.value, query.constructor]).toEqual([
        '1',
        '2,3',
      ]);
      expect(Object.getPrototypeOf(query)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(event.headers, 'constructor')?.value).toBe('c');
    });

    it('leaves out pathParameters, queryStringParameters and cookies when there are none', async () => {
      await send(`${gateway.url}/open`, { method: 'GET' });
      const event = last();
      expect(event.rawQueryString).toBe('');
      expect('pathParameters' in event).toBe(false);
      expect('queryStringParameters' in event).toBe(false);
      expect('cookies' in event).toBe(false);
      expect('authorizer' in event.requestContext).toBe(false);
    });

    it('passes text bodies as they are and binary ones base64-encoded', async () => {
      await send(`${gateway.url}/items/1/tags`, {
        method: 'POST',
        headers: { 'x-api-key': 'good', 'content-type': 'application/json' },
        body: '{"tag":"é"}',
      });
      expect(last()).toMatchObject({ body: '{"tag":"é"}', isBase64Encoded: false });
      const bytes = Buffer.from([0, 1, 2, 255]);
      await send(`${gateway.url}/items/1/tags`, {
        method: 'POST',
        headers: { 'x-api-key': 'good', 'content-type': 'application/octet-stream' },
        body: bytes,
      });
      expect(last()).toMatchObject({ body: bytes.toString('base64'), isBase64Encoded: true });
    });

    it('joins repeated headers with commas', async () => {
      const { request } = await import('node:http');
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gateway.url}/open`, { method: 'GET' }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.setHeader('x-dup', ['a', 'b']);
        req.on('error', reject);
        req.end();
      });
      expect(last().headers['x-dup']).toBe('a,b');
    });

    it('collects the cookies of every Cookie header, and decodes path parameters but not "+"', async () => {
      const { request } = await import('node:http');
      await new Promise<void>((resolve, reject) => {
        const req = request(`${gateway.url}/items/a+b%2Fc%C3%A9`, { method: 'GET' }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.setHeader('x-api-key', 'good');
        req.setHeader('cookie', ['a=1; b=2', 'c=3']);
        req.on('error', reject);
        req.end();
      });
      expect(last().cookies).toEqual(['a=1', 'b=2', 'c=3']);
      expect(last().pathParameters).toEqual({ id: 'a+b/cé' });
      expect(last().rawPath).toBe('/items/a+b%2Fc%C3%A9');
    });

    it('sends a base64 body back to the client as bytes; only text, JSON, XML and JavaScript bodies come as text', async () => {
      const bytes = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x10]);
      reply = async (event) => ({
        statusCode: 200,
        headers: { 'content-type': 'image/jpeg' },
        body: event.body ?? '',
        isBase64Encoded: event.isBase64Encoded,
      });
      const { request } = await import('node:http');
      const echoed = await new Promise<Buffer>((resolve, reject) => {
        const req = request(`${gateway.url}/items/1/tags`, { method: 'POST' }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        });
        req.setHeader('x-api-key', 'good');
        req.setHeader('content-type', 'image/jpeg');
        req.on('error', reject);
        req.end(bytes);
      });
      expect(last()).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
      expect(echoed.equals(bytes)).toBe(true);
      // As observed on AWS: these four families as text, anything else (forms and a body with no
      // Content-Type included) base64.
      const text = [
        'application/json; charset=utf-8',
        'application/xml',
        'application/javascript',
        'text/csv',
      ];
      const binary = [
        'application/x-www-form-urlencoded',
        'application/problem+json',
        'image/png',
        undefined,
      ];
      for (const type of [...text, ...binary]) {
        await new Promise<void>((resolve, reject) => {
          const req = request(`${gateway.url}/items/1/tags`, { method: 'POST' }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.setHeader('x-api-key', 'good');
          if (type) req.setHeader('content-type', type);
          req.on('error', reject);
          req.end('a=1&b=é');
        });
        const encoded = !text.includes(type as string);
        expect(last(), String(type)).toMatchObject({
          isBase64Encoded: encoded,
          body: encoded ? Buffer.from('a=1&b=é').toString('base64') : 'a=1&b=é',
        });
        expect(last().headers['content-type']).toBe(type);
      }
    });

    it('sends unmatched requests to $default without an authorizer (the function answers 404/405)', async () => {
      reply = async (event) => ({
        statusCode: event.rawPath.startsWith('/items/') ? 405 : 404,
        body: JSON.stringify({ routeKey: event.routeKey }),
      });
      const unknown = await send(`${gateway.url}/nowhere/at/all?q=1`, { method: 'GET' });
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toEqual({ routeKey: '$default' });
      expect(last()).toMatchObject({
        routeKey: '$default',
        rawPath: '/nowhere/at/all',
        rawQueryString: 'q=1',
      });
      expect(last().requestContext.routeKey).toBe('$default');
      // A known path with another method: no authorizer ran, no x-api-key was needed.
      const before = gateway.authorizerCalls;
      const wrongMethod = await send(`${gateway.url}/items/1`, { method: 'DELETE' });
      expect(wrongMethod.status).toBe(405);
      expect(gateway.authorizerCalls).toBe(before);
      expect(last()).toMatchObject({ routeKey: '$default', rawPath: '/items/1' });
      expect('pathParameters' in last()).toBe(false);
      expect('authorizer' in last().requestContext).toBe(false);
    });
  });

  describe('responses', () => {
    it('maps a structured result: status, headers, cookies, base64 body', async () => {
      reply = async () => ({
        statusCode: 201,
        headers: { 'X-Thing': 'yes' },
        cookies: ['s=1; HttpOnly', 't=2'],
        body: Buffer.from('hello').toString('base64'),
        isBase64Encoded: true,
      });
      const r = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(r.status).toBe(201);
      expect(r.headers['x-thing']).toBe('yes');
      expect(r.headers['set-cookie']).toEqual(['s=1; HttpOnly', 't=2']);
      expect(r.text).toBe('hello');
    });

    it('applies the shortcut to results without statusCode: 200 JSON of the value', async () => {
      reply = async () => ({ hello: 'world' }) as unknown as APIGatewayProxyResultV2;
      const object = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(object.status).toBe(200);
      expect(object.headers['content-type']).toBe('application/json');
      expect(object.json()).toEqual({ hello: 'world' });
      reply = async () => 'plain';
      expect((await send(`${gateway.url}/open`, { method: 'GET' })).text).toBe('plain');
    });

    it('answers 500 when the function throws or runs past its own timeout (a Lambda function error)', async () => {
      reply = async () => {
        throw new Error('boom');
      };
      const failed = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(failed.status).toBe(500);
      expect(failed.json()).toEqual({ message: 'Internal Server Error' });
      reply = () => new Promise(() => {});
      const started = Date.now();
      const slow = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(slow.status).toBe(500);
      expect(slow.json()).toEqual({ message: 'Internal Server Error' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      // Its own 300 ms timeout, not the client's 15 s (a loaded machine may stretch the 300 ms).
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('answers 500 to a structured result API Gateway cannot use, and "null" when nothing is returned', async () => {
      reply = async () => ({ statusCode: 'ok' }) as unknown as APIGatewayProxyResultV2;
      const bad = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(bad.status).toBe(500);
      expect(bad.json()).toEqual({ message: 'Internal Server Error' });
      reply = async () => undefined as unknown as APIGatewayProxyResultV2;
      const none = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(none.status).toBe(200);
      expect(none.text).toBe('null');
      reply = async () => [1, 'two'] as unknown as APIGatewayProxyResultV2;
      expect((await send(`${gateway.url}/open`, { method: 'GET' })).json()).toEqual([1, 'two']);
    });

    it('keeps the connection alive between requests', async () => {
      const { Agent, request } = await import('node:http');
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const ports: number[] = [];
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = request(`${gateway.url}/open`, { agent }, (res) => {
            ports.push(res.socket.localPort ?? -1);
            expect(res.headers.connection).toBe('keep-alive');
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end();
        });
      }
      agent.destroy();
      expect(new Set(ports).size).toBe(1);
    });
  });

  describe('authorizer', () => {
    it('answers 401 without the identity header, without calling the authorizer', async () => {
      const before = gateway.authorizerCalls;
      const r = await send(`${gateway.url}/items/1`, { method: 'GET' });
      expect(r.status).toBe(401);
      expect(r.json()).toEqual({ message: 'Unauthorized' });
      expect(gateway.authorizerCalls).toBe(before);
      expect(events).toHaveLength(0);
    });

    it('gives the authorizer a payload 2.0 REQUEST event with the identity source', async () => {
      const seen: unknown[] = [];
      decide = (key) => ({ isAuthorized: key === 'good', context: { tenant: 'acme', scopes: '*' } });
      const previous = decide;
      decide = (key) => {
        seen.push(key);
        return previous(key);
      };
      const r = await send(`${gateway.url}/items/x%20y?a=1&a=2`, {
        method: 'GET',
        headers: { 'x-api-key': 'good', cookie: 'c=1' },
      });
      decide = previous;
      expect(r.status).toBe(200);
      expect(seen).toEqual(['good']);
      const authEvent = gateway.lastAuthorizerEvent;
      expect(authEvent).toMatchObject({
        version: '2.0',
        type: 'REQUEST',
        identitySource: ['good'],
        routeKey: 'GET /items/{id}',
        rawPath: '/items/x%20y',
        rawQueryString: 'a=1&a=2',
        cookies: ['c=1'],
        queryStringParameters: { a: '1,2' },
        pathParameters: { id: 'x y' },
        requestContext: { routeKey: 'GET /items/{id}', stage: '$default', http: { method: 'GET' } },
      });
      expect(authEvent?.routeArn).toMatch(
        /^arn:aws:execute-api:[^:]+:\d{12}:[^/]+\/\$default\/GET\/items\/x%20y$/,
      );
      expect(authEvent?.headers?.['x-api-key']).toBe('good');
    });

    it('answers 403 when the authorizer denies, and caches decisions per key', async () => {
      const before = gateway.authorizerCalls;
      const denied = await send(`${gateway.url}/items/1`, { method: 'GET', headers: { 'x-api-key': 'bad' } });
      expect(denied.status).toBe(403);
      expect(denied.json()).toEqual({ message: 'Forbidden' });
      await send(`${gateway.url}/items/1`, { method: 'GET', headers: { 'x-api-key': 'bad' } });
      for (let i = 0; i < 3; i++) {
        await send(`${gateway.url}/items/${i}`, { method: 'GET', headers: { 'x-api-key': 'good' } });
      }
      expect(gateway.authorizerCalls - before).toBe(2);
      expect(events).toHaveLength(3);
    });

    it('answers 500 when the authorizer fails or answers nonsense', async () => {
      decide = () => {
        throw new Error('down');
      };
      expect(
        (await send(`${gateway.url}/items/1`, { method: 'GET', headers: { 'x-api-key': 'k1' } })).status,
      ).toBe(500);
      decide = () => ({ allowed: true }) as unknown as AuthorizerDecision;
      expect(
        (await send(`${gateway.url}/items/1`, { method: 'GET', headers: { 'x-api-key': 'k2' } })).status,
      ).toBe(500);
      decide = (key) => ({ isAuthorized: key === 'good', context: { tenant: 'acme', scopes: '*' } });
    });
  });

  describe('limits', () => {
    it('answers 413 above 10 MB and 431 above 10 KB of headers, as JSON, without calling the function', async () => {
      const big = await send(`${gateway.url}/items/1/tags`, {
        method: 'POST',
        headers: { 'x-api-key': 'good', 'content-type': 'application/json' },
        body: 'x'.repeat(10 * 1024 * 1024 + 1),
      });
      expect(big.status).toBe(413);
      expect(big.json()).toEqual({ message: 'Request Entity Too Large' });
      const headers = await send(`${gateway.url}/open`, {
        method: 'GET',
        headers: { 'x-big': 'h'.repeat(11_000) },
      });
      expect(headers.status).toBe(431);
      expect(headers.json()).toEqual({ message: 'Request Header Fields Too Large' });
      expect(events).toHaveLength(0);
    });

    it('counts 10,240 bytes of request line and headers exactly, and answers JSON 431 far above it too', async () => {
      const { connect } = await import('node:net');
      /** Sends `GET /open` with one padding header so that line + headers are `total` bytes. */
      const rawRequest = (total: number): Promise<string> => {
        const line = 'GET /open HTTP/1.1\r\n';
        const fixed = `${line}host: x\r\nconnection: close\r\nx-pad: \r\n`;
        const head = `${line}host: x\r\nconnection: close\r\nx-pad: ${'p'.repeat(total - fixed.length)}\r\n`;
        expect(head.length).toBe(total);
        return new Promise((resolve, reject) => {
          const { port } = new URL(gateway.url);
          const socket = connect(Number(port), '127.0.0.1', () => socket.end(`${head}\r\n`));
          let reply = '';
          socket.on('data', (d: Buffer) => {
            reply += d.toString();
          });
          socket.on('end', () => resolve(reply));
          socket.on('error', reject);
        });
      };
      expect(await rawRequest(10_240)).toMatch(/^HTTP\/1\.1 200 /);
      const over = await rawRequest(10_241);
      expect(over).toMatch(/^HTTP\/1\.1 431 /);
      expect(over).toContain('{"message":"Request Header Fields Too Large"}');
      const huge = await rawRequest(100_000);
      expect(huge).toMatch(/^HTTP\/1\.1 431 /);
      expect(huge).toContain('{"message":"Request Header Fields Too Large"}');
    });

    it('answers 400 to a path with a malformed escape', async () => {
      const r = await send(`${gateway.url}/items/%E0%A4%A`, {
        method: 'GET',
        headers: { 'x-api-key': 'good' },
      });
      expect(r.status).toBe(400);
      expect(r.json()).toEqual({ message: 'Bad Request' });
    });
  });
});

describe('HttpGateway timeouts, context, cache off and recording', () => {
  const ROUTES_2: RouteShape[] = [
    { method: 'GET', path: '/slow', auth: false },
    { method: 'GET', path: '/ctx', auth: false },
    { method: 'POST', path: '/things/{id}', auth: true },
  ];
  const recorded: Array<{ event: APIGatewayProxyEventV2; result: APIGatewayProxyResultV2 | Error }> = [];
  const handler = async (event: APIGatewayProxyEventV2, context: import('aws-lambda').Context) => {
    if (event.rawPath === '/slow') return new Promise<APIGatewayProxyResultV2>(() => {});
    if (event.rawPath === '/ctx') {
      const first = context.getRemainingTimeInMillis();
      await new Promise((r) => setTimeout(r, 60));
      return {
        statusCode: 200,
        body: JSON.stringify({
          functionName: context.functionName,
          awsRequestId: context.awsRequestId,
          first,
          later: context.getRemainingTimeInMillis(),
        }),
      };
    }
    return { statusCode: 200, body: JSON.stringify({ id: event.pathParameters?.id, body: event.body }) };
  };
  let gateway: HttpGateway;
  beforeAll(async () => {
    gateway = await HttpGateway.start({
      routes: ROUTES_2,
      handler,
      functionName: 'api-fn',
      timeoutMs: 10_000,
      integrationTimeoutMs: 250,
      authorizer: {
        handler: async (event) => ({
          isAuthorized: event.identitySource[0] === 'ok',
          context: { tenant: 't' },
        }),
        identityHeader: 'x-api-key',
        cacheTtlMs: 0,
      },
      onInvoke: (event, result) => recorded.push({ event, result }),
    });
  });
  afterAll(async () => {
    await gateway.close();
  });

  it('answers 503 when API Gateway stops waiting (integration timeout) before the function times out', async () => {
    const started = Date.now();
    const r = await send(`${gateway.url}/slow`, { method: 'GET' });
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ message: 'Service Unavailable' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    // The 250 ms integration timeout; the function's own 10 s would have answered 500.
    expect(Date.now() - started).toBeLessThan(9_000);
  });

  it("gives each invocation a Lambda context counting down from the function's timeout", async () => {
    const a = (await send(`${gateway.url}/ctx`, { method: 'GET' })).json<Record<string, unknown>>();
    const b = (await send(`${gateway.url}/ctx`, { method: 'GET' })).json<Record<string, unknown>>();
    expect(a.functionName).toBe('api-fn');
    expect(a.awsRequestId).not.toBe(b.awsRequestId);
    expect(a.first as number).toBeLessThanOrEqual(10_000);
    expect(a.first as number).toBeGreaterThan(9_000);
    expect((a.first as number) - (a.later as number)).toBeGreaterThanOrEqual(50);
  });

  it('runs the authorizer on every request when its cache TTL is 0', async () => {
    const before = gateway.authorizerCalls;
    for (let i = 0; i < 3; i++) {
      const r = await send(`${gateway.url}/things/${i}`, { method: 'POST', headers: { 'x-api-key': 'ok' } });
      expect(r.status).toBe(200);
    }
    expect(gateway.authorizerCalls - before).toBe(3);
  });

  it('records the exact events, which replayed straight to the handler give the same results', async () => {
    recorded.length = 0;
    await send(`${gateway.url}/things/r%201?x=1`, {
      method: 'POST',
      headers: { 'x-api-key': 'ok', 'content-type': 'application/json' },
      body: '{"v":1}',
    });
    expect(recorded).toHaveLength(1);
    const [{ event, result }] = recorded as [(typeof recorded)[number]];
    expect(event).toMatchObject({
      routeKey: 'POST /things/{id}',
      pathParameters: { id: 'r 1' },
      body: '{"v":1}',
      requestContext: { authorizer: { lambda: { tenant: 't' } } },
    });
    const { localContext } = await import('../../../local/lambda-runtime');
    const replayed = await handler(JSON.parse(JSON.stringify(event)), localContext('api', 10_000));
    expect(replayed).toEqual(result);
  });
});
