import { describe, expect, it } from 'vitest';
import { matchRoute, methodsFor, ROUTES, routeKey } from '../../../../lambda/shared/routes';

describe('route table', () => {
  it('matches a request to its route with the path parameters as they stand', () => {
    expect(matchRoute('GET', '/cache/a%20b')).toEqual({
      route: ROUTES.find((r) => routeKey(r) === 'GET /cache/{key}'),
      key: 'GET /cache/{key}',
      pathParameters: { key: 'a%20b' },
    });
    expect(matchRoute('POST', '/rate-limits/api/check')?.pathParameters).toEqual({ name: 'api' });
    expect(matchRoute('GET', '/health')).toEqual({ route: ROUTES[0], key: 'GET /health' });
  });

  it('matches nothing for another method, an empty or extra segment, or an unknown path', () => {
    expect(matchRoute('POST', '/cache/a')).toBeNull();
    expect(matchRoute('GET', '/cache/')).toBeNull();
    expect(matchRoute('GET', '/cache/a/b')).toBeNull();
    expect(matchRoute('GET', '/nope')).toBeNull();
  });

  it('lists the methods served on a path, for Allow', () => {
    expect(methodsFor('/cache/x')).toEqual(['GET', 'PUT', 'DELETE']);
    expect(methodsFor('/cache/batch')).toEqual(['GET', 'PUT', 'DELETE', 'POST']);
    expect(methodsFor('/nope')).toEqual([]);
  });
});
