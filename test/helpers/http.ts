import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DEFAULT_ROUTE_KEY, matchRoute } from '../../lambda/shared/routes';
import { addJoined } from '../../local/http-gateway';

/** One request, as a test describes it. */
export interface ApiCall {
  readonly method: string;
  /** Path with its query, e.g. `/cache/a?ttlMs=10`. Path segments as they go on the wire (encoded). */
  readonly path: string;
  /** Sent as JSON (any JSON value, strings included). */
  readonly body?: unknown;
  /** Sent as is, for malformed bodies; wins over `body`. */
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
  /** The tenant the authorizer let through; `null` for none (a public or unauthorized call). */
  readonly tenant?: string | null;
  /** @default ['*'] */
  readonly scopes?: readonly string[];
}

/**
 * The payload 2.0 event API Gateway would pass the api function for `call`, with the route
 * matched from ROUTES (or `$default`) and the Lambda authorizer's context when a tenant is given.
 */
export function apiEvent(call: ApiCall): APIGatewayProxyEventV2 {
  const [rawPath = '/', rawQueryString = ''] = call.path.split('?', 2) as [string, string?];
  const method = call.method.toUpperCase();
  const match = matchRoute(method, rawPath);
  const key = match?.key ?? DEFAULT_ROUTE_KEY;
  const pathParameters = match?.pathParameters
    ? Object.fromEntries(Object.entries(match.pathParameters).map(([n, v]) => [n, decodeURIComponent(v)]))
    : undefined;
  const query = new URLSearchParams(rawQueryString);
  const queryStringParameters: Record<string, string> = {};
  for (const [k, v] of query) addJoined(queryStringParameters, k, v);
  const headers: Record<string, string> = { host: 'api.local', 'user-agent': 'vitest' };
  for (const [k, v] of Object.entries(call.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: string | undefined;
  if (call.rawBody !== undefined || call.body !== undefined) {
    body = call.rawBody ?? JSON.stringify(call.body);
    headers['content-type'] ??= 'application/json';
  }
  const tenant = call.tenant === undefined ? null : call.tenant;
  const authorizer =
    tenant !== null && key !== DEFAULT_ROUTE_KEY
      ? { lambda: { tenant, scopes: (call.scopes ?? ['*']).join(' '), keyId: 'k_test' } }
      : undefined;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: key,
    rawPath,
    rawQueryString,
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      domainName: 'api.local',
      domainPrefix: 'api',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: key,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
      ...(authorizer ? { authorizer } : {}),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  } as APIGatewayProxyEventV2;
}

/** A response body parsed as JSON (`undefined` when empty). */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on the shape with toEqual/toMatchObject
export const bodyOf = (response: { body?: string }): any =>
  response.body ? JSON.parse(response.body) : undefined;
