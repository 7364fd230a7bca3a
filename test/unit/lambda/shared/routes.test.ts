import { readFileSync } from 'node:fs';
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

  it('gives every route a summary and an answer, every body route a schema', () => {
    for (const route of ROUTES) {
      expect(route.summary.length, routeKey(route)).toBeGreaterThan(0);
      expect(Object.keys(route.responses).length, routeKey(route)).toBeGreaterThan(0);
      for (const status of Object.keys(route.responses)) expect(Number(status)).toBeLessThan(600);
    }
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
      ['GET /jobs', ['state', 'type', 'cursor', 'limit']],
    ]);
    for (const route of ROUTES) {
      for (const param of Object.values(route.query ?? {})) {
        if (param.type === 'integer') expect(param.min).toBeLessThanOrEqual(param.max);
        else if (param.type === 'enum') expect(param.values.length).toBeGreaterThan(0);
        else expect(param.pattern.test('')).toBe(false);
      }
    }
  });

  it('is what docs/api.md lists, route by route, with the same scopes', () => {
    const docs = readFileSync(new URL('../../../../docs/api.md', import.meta.url), 'utf8');
    const section = docs.slice(
      docs.indexOf('\n## Routes'),
      docs.indexOf('\n## ', docs.indexOf('\n## Routes') + 1),
    );
    const rows = [...section.matchAll(/^\| `([A-Z]+ \/[^`]*)`\s*\|\s*([^|]+?)\s*\|/gm)].map(
      ([, key, scope]) => [key, (scope as string).split(/[ (]/)[0]],
    );
    expect(rows).toEqual(ROUTES.map((r) => [routeKey(r), r.scope ?? 'public']));
  });

  it('lists the methods served on a path, for Allow', () => {
    expect(methodsFor('/cache/x')).toEqual(['GET', 'PUT', 'DELETE']);
    expect(methodsFor('/cache/batch')).toEqual(['GET', 'PUT', 'DELETE', 'POST']);
    expect(methodsFor('/nope')).toEqual([]);
  });
});
