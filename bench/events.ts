import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DEFAULT_ROUTE_KEY, matchRoute } from '../lambda/shared/routes';
import { scheduledEvent } from '../local/scheduler';

/** The payload 2.0 event API Gateway passes the api function, with the authorizer's context. */
export function apiEventFor(
  method: string,
  path: string,
  tenant: string,
  body?: string,
): APIGatewayProxyEventV2 {
  const match = matchRoute(method, path);
  const key = match?.key ?? DEFAULT_ROUTE_KEY;
  const pathParameters = match?.pathParameters
    ? Object.fromEntries(Object.entries(match.pathParameters).map(([n, v]) => [n, decodeURIComponent(v)]))
    : undefined;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: key,
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'localhost', ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: randomUUID(),
      routeKey: key,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
      authorizer: { lambda: { tenant, scopes: '*', keyId: 'k_bench' } },
    },
    ...(body ? { body } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

/** The event of a Lambda authorizer call for `key`. */
export const authorizerEventFor = (key: string) => ({
  version: '2.0',
  type: 'REQUEST',
  identitySource: [key],
  routeKey: 'GET /cache/{key}',
  rawPath: '/cache/hot',
  headers: { 'x-api-key': key },
});

/** The event a schedule sends. */
export const schedulerEventFor = (job: string) => scheduledEvent(job);
