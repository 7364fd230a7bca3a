import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RouteDefinition } from '../../../lambda/shared/routes';
import { type AuthorizerDecision, HttpGateway } from '../../../local/http-gateway';
import { send } from '../../helpers/http-client';

/**
 * The local API gateway against the payload format 2.0 contract (AWS developer guide, "Working
 * with AWS Lambda proxy integrations for HTTP APIs"), with stand-in handlers that record what
 * they receive.
 */

const ROUTES: RouteDefinition[] = [
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
      expect(event.headers).toMatchObject({ 'x-api-key': 'good', 'x-multi': 'one', 'user-agent': 'probe/1' });
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
      expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(event.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
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

    it('sends unmatched requests to $default without an authorizer', async () => {
      await send(`${gateway.url}/items/1`, { method: 'DELETE' });
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

    it('answers 500 when the function throws and 503 when it runs past its timeout', async () => {
      reply = async () => {
        throw new Error('boom');
      };
      const failed = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(failed.status).toBe(500);
      expect(failed.json()).toEqual({ message: 'Internal Server Error' });
      reply = () => new Promise(() => {});
      const started = Date.now();
      const slow = await send(`${gateway.url}/open`, { method: 'GET' });
      expect(slow.status).toBe(503);
      expect(slow.json()).toEqual({ message: 'Service Unavailable' });
      expect(Date.now() - started).toBeLessThan(2_000);
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
