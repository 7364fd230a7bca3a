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

  it('gives every authenticated route a scope and a public one none', () => {
    for (const route of ROUTES) {
      expect(route.scope === undefined, routeKey(route)).toBe(!route.auth);
    }
  });

  it('declares query parameters only on routes that read them, each bounded', () => {
    const declared = ROUTES.filter((r) => r.query).map((r) => [routeKey(r), Object.keys(r.query ?? {})]);
    expect(declared).toEqual([
      ['PUT /cache/{key}', ['ttlMs', 'mode']],
      ['POST /cache/batch', ['ttlMs']],
    ]);
    for (const route of ROUTES) {
      for (const param of Object.values(route.query ?? {})) {
        if (param.type === 'integer') expect(param.min).toBeLessThanOrEqual(param.max);
        else expect(param.values.length).toBeGreaterThan(0);
      }
    }
  });

  it('lists the methods served on a path, for Allow', () => {
    expect(methodsFor('/cache/x')).toEqual(['GET', 'PUT', 'DELETE']);
    expect(methodsFor('/cache/batch')).toEqual(['GET', 'PUT', 'DELETE', 'POST']);
    expect(methodsFor('/nope')).toEqual([]);
  });
});
