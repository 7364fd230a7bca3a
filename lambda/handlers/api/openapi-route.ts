import { nodeBuiltin } from '../../shared/builtin';
import { ConfigurationError } from '../../shared/errors';
import type { HttpResponse } from '../../shared/http';
import { memoize } from '../../shared/memo';

/**
 * `GET /openapi.json`. In the Lambda bundle the document is a file beside it, generated at synth
 * from the same route table (./openapi-document.ts): the generator and `@valibot/to-json-schema`
 * stay out of the bundle, and the document is read on the first request for it, never at a cold
 * start. Run from source (the local stack, tests), there is no such file and the handler
 * generates the document instead.
 */

/** The document's file name beside the api function's bundle (`index.mjs`). */
export const OPENAPI_FILE = 'openapi.json';

// Dropped from the Lambda bundles (bundle-labels.ts): they have the document beside them.
let generate: (() => Promise<Record<string, unknown>>) | undefined;
UPSTASH_OPENAPI: generate = () => import('./openapi-document').then((m) => m.deploymentOpenApi());

/** The document as served: the file's bytes, or the generated document as JSON. */
const documentText = memoize(async (): Promise<string> => {
  const fs = nodeBuiltin<typeof import('node:fs')>('node:fs');
  const file = new URL(`./${OPENAPI_FILE}`, import.meta.url);
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
  if (generate) return JSON.stringify(await generate());
  throw new ConfigurationError(
    `this bundle has no ${OPENAPI_FILE} beside it: the api stack writes it there at synth (ApiStack), a bundle built otherwise needs it copied next to index.mjs`,
  );
});

/** The answer to `GET /openapi.json`. */
export async function openApiResponse(): Promise<HttpResponse> {
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: await documentText() };
}
