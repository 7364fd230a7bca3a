import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { expect } from 'vitest';
import { ROUTES } from '../../lambda/shared/routes';
import { type Exchange, exchanges, send } from './http-client';

/** What the OpenAPI document says of one answer, or why it does not fit. */
type Verdict = { readonly ok: true } | { readonly ok: false; readonly why: string };

type Json = Record<string, unknown>;
const DOC_ID = 'https://api.local/openapi.json';
const pointer = (...parts: string[]) =>
  `${DOC_ID}#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;

/**
 * Checks answers against an OpenAPI 3.1 document with ajv (JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1): the operation of the request's method and path, a status it declares, and a body
 * that validates against that status's schema (or is empty when it declares none). A request that
 * matches no operation must get one of the document's `x-unmatched-responses` (404/405), and a CORS
 * preflight an empty 204.
 */
export class OpenApiChecker {
  readonly #doc: Json;
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true });
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #paths: Array<{ template: string; pattern: RegExp; params: number }>;

  constructor(doc: Json) {
    this.#doc = doc;
    this.#ajv.addSchema({ ...doc, $id: DOC_ID });
    this.#paths = Object.keys(doc.paths as Json)
      .map((template) => ({
        template,
        pattern: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
        params: (template.match(/\{/g) ?? []).length,
      }))
      // A literal path wins over a parameter, as API Gateway routes.
      .sort((a, b) => a.params - b.params);
  }

  /** The document's operations, as `METHOD /path`. */
  operations(): string[] {
    return Object.entries(this.#doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
  }

  #validator(ref: string): ValidateFunction {
    let validate = this.#compiled.get(ref);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: ref });
      this.#compiled.set(ref, validate);
    }
    return validate;
  }

  /** Resolves a `$ref` to a component response into the response object and its pointer. */
  #response(spec: Json, at: string[]): { spec: Json; at: string[] } {
    const ref = spec.$ref;
    if (typeof ref !== 'string') return { spec, at };
    const parts = ref.replace(/^#\//, '').split('/');
    let node: unknown = this.#doc;
    for (const part of parts) node = (node as Json)[part];
    return { spec: node as Json, at: parts };
  }

  #body(spec: Json, at: string[], text: string): Verdict {
    const { spec: response, at: where } = this.#response(spec, at);
    const content = response.content as Json | undefined;
    if (!content)
      return text === ''
        ? { ok: true }
        : { ok: false, why: `a body where none is declared: ${text.slice(0, 100)}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, why: `not JSON: ${text.slice(0, 100)}` };
    }
    const validate = this.#validator(pointer(...where, 'content', 'application/json', 'schema'));
    if (validate(body)) return { ok: true };
    return { ok: false, why: `${this.#ajv.errorsText(validate.errors)} in ${text.slice(0, 200)}` };
  }

  /** Whether `exchange`'s answer fits the document. */
  check(exchange: Exchange): Verdict {
    const { method, response } = exchange;
    const path = new URL(exchange.url).pathname;
    if (method === 'OPTIONS') {
      return response.status === 204 && response.text === ''
        ? { ok: true }
        : this.#unmatched(response.status, response.text);
    }
    const found = this.#paths.find(
      (p) =>
        p.pattern.test(path) &&
        (this.#doc.paths as Json)[p.template] &&
        ((this.#doc.paths as Record<string, Json>)[p.template] as Json)[method.toLowerCase()],
    );
    if (!found) return this.#unmatched(response.status, response.text);
    const responses = ((this.#doc.paths as Record<string, Json>)[found.template] as Record<string, Json>)[
      method.toLowerCase()
    ]?.responses as Record<string, Json>;
    const spec = responses[String(response.status)];
    if (!spec)
      return { ok: false, why: `status ${response.status} is not declared for ${method} ${found.template}` };
    return this.#body(
      spec,
      ['paths', found.template, method.toLowerCase(), 'responses', String(response.status)],
      response.text,
    );
  }

  #unmatched(status: number, text: string): Verdict {
    const spec = (this.#doc['x-unmatched-responses'] as Record<string, Json>)[String(status)];
    if (!spec) return { ok: false, why: `a request matching no operation got ${status}` };
    return this.#body(spec, ['x-unmatched-responses', String(status)], text);
  }
}

/**
 * Fetches the document the stack at `baseUrl` serves and checks every answer this test file got
 * from that stack against it; also that every route of the table is in it. For an e2e file's
 * `afterAll`, while the stack still runs.
 * @returns how many answers were checked
 */
export async function expectAnswersMatchOpenApi(baseUrl: string): Promise<number> {
  const ours = exchanges.filter((e) => e.url.startsWith(baseUrl));
  const doc = await send(`${baseUrl}/openapi.json`, { method: 'GET' });
  expect(doc.status).toBe(200);
  const checker = new OpenApiChecker(doc.json<Json>());
  expect(checker.operations().sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  const misfits = ours
    .map((exchange) => ({ exchange, verdict: checker.check(exchange) }))
    .filter(({ verdict }) => !verdict.ok)
    .map(
      ({ exchange, verdict }) =>
        `${exchange.method} ${new URL(exchange.url).pathname} ${exchange.response.status}: ${(verdict as { why: string }).why}`,
    );
  expect([...new Set(misfits)].slice(0, 20)).toEqual([]);
  expect(ours.length).toBeGreaterThan(0);
  return ours.length;
}
