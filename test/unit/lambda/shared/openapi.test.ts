import Ajv2020 from 'ajv/dist/2020';
import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { BUILTIN_JOB_TYPES } from '../../../../lambda/services/queue/job-types';
import { openApiDocument } from '../../../../lambda/shared/openapi';
import { ROUTES, routeKey } from '../../../../lambda/shared/routes';

type Json = Record<string, unknown>;

/**
 * The OpenAPI document is generated from the route table and its valibot schemas: every route is
 * in it with its scope, parameters and answers, it is valid JSON Schema 2020-12 throughout, and
 * its request bodies take whatever the api function's own schemas take.
 */
describe('OpenAPI document', () => {
  const doc = openApiDocument({ jobTypes: BUILTIN_JOB_TYPES.enqueueable() });
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...doc, $id: 'https://api.local/openapi.json' });
  const bodySchema = (route: (typeof ROUTES)[number]) =>
    ajv.compile({
      $ref: `https://api.local/openapi.json#/paths/${route.path.replace(/\//g, '~1')}/${route.method.toLowerCase()}/requestBody/content/application~1json/schema`,
    });

  it('is OpenAPI 3.1 with every route of the table, and nothing else', () => {
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(ROUTES.map(routeKey).sort());
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('describes each route as the table does: security, scope, parameters, Idempotency-Key, answers', () => {
    for (const route of ROUTES) {
      const op = paths[route.path]?.[route.method.toLowerCase()] as Json;
      const what = routeKey(route);
      expect(op.summary, what).toBe(route.summary);
      expect(op.security, what).toEqual(route.auth ? [{ apiKey: [] }] : []);
      if (route.scope) expect(op.description, what).toContain(`\`${route.scope}\``);
      const params = (op.parameters ?? []) as Json[];
      const names = params.map((p) => p.name ?? p.$ref);
      for (const [, name] of route.path.matchAll(/\{([^}]+)\}/g)) expect(names, what).toContain(name);
      for (const name of Object.keys(route.query ?? {})) expect(names, what).toContain(name);
      const idempotent = names.includes('#/components/parameters/IdempotencyKey');
      expect(idempotent, what).toBe(route.auth && route.method !== 'GET');
      const responses = op.responses as Json;
      for (const status of Object.keys(route.responses)) expect(responses, what).toHaveProperty(status);
      for (const status of Object.keys(route.errors ?? {})) expect(responses, what).toHaveProperty(status);
      expect(responses, what).toHaveProperty('503');
      expect(Boolean(op.requestBody), what).toBe(route.body !== undefined);
    }
  });

  it('compiles: every schema in it is valid JSON Schema 2020-12', () => {
    for (const name of Object.keys((doc.components as Json).schemas as Json)) {
      expect(
        () => ajv.getSchema(`https://api.local/openapi.json#/components/schemas/${name}`),
        name,
      ).not.toThrow();
    }
    for (const route of ROUTES.filter((r) => r.body)) expect(() => bodySchema(route)).not.toThrow();
  });

  it('lists the job types POST /jobs accepts with their scopes and payload schemas', () => {
    const types = ((paths['/jobs'] as Record<string, Json>).post as Json)['x-job-types'] as Json[];
    expect(types.map((t) => [t.type, t.scope])).toEqual(
      BUILTIN_JOB_TYPES.enqueueable().map((t) => [t.type, t.scope]),
    );
    expect(types.every((t) => (t.payload as Json)?.type === 'object')).toBe(true);
  });

  it('never refuses a body the api function accepts', () => {
    const field = fc.oneof(
      fc.constantFrom(
        'userId',
        'data',
        'identifier',
        'cost',
        'type',
        'payload',
        'prefix',
        'get',
        'set',
        'remove',
        'ttlMs',
      ),
      fc.string({ maxLength: 6 }),
    );
    const value = fc.oneof(
      fc.constantFrom(
        'u1',
        '',
        'a:b',
        1,
        0,
        -1,
        100,
        1.5,
        true,
        null,
        [],
        ['k'],
        [{ key: 'k', value: 1 }],
        {},
        { a: 1 },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const body = fc.dictionary(field, value, { maxKeys: 3 });
    const routes = ROUTES.filter((r) => r.body);
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...routes), body, (route, input) => {
        const schema = route.body as v.GenericSchema;
        if (!v.safeParse(schema, input).success) return;
        accepted++;
        const validate = bodySchema(route);
        expect(
          validate(input),
          `${routeKey(route)} ${JSON.stringify(input)} ${ajv.errorsText(validate.errors)}`,
        ).toBe(true);
      }),
      { numRuns: 3_000 },
    );
    expect(accepted).toBeGreaterThan(20);
  });
});
