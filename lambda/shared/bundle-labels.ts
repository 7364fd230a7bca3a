import { ConfigurationError } from './errors';

/**
 * Labelled statements the Lambda bundles drop. `UpstashFunction` bundles each function with
 * esbuild's `--drop-labels`: a labelled statement is removed before esbuild follows its imports,
 * so the modules only it reaches are neither shipped nor parsed. Anywhere else (tests, the local
 * stack, a package user's own bundling) a label is an ordinary statement.
 *
 * ```ts
 * let loadTcp: (() => Promise<typeof import('./redis-tcp')>) | undefined;
 * UPSTASH_TCP: loadTcp = () => import('./redis-tcp');
 * ```
 */

/**
 * The lazy imports of TCP and migration code (ioredis, the TCP client, the migration router, the
 * key copy): dropped from a function whose databases are all reached over REST.
 */
export const TCP_LABEL = 'UPSTASH_TCP';

/**
 * The lazy import of the Secrets Manager client: dropped from every bundle, which gets the client
 * imported statically instead (`secrets-manager-client.ts`, injected). In a bundle, a module
 * imported lazily is wrapped in a function and compiled twice (once skimmed at load, once in full
 * on first use); the static import is measurably cheaper for a client every function uses on its
 * first event (docs/architecture.md).
 */
export const LAZY_SDK_LABEL = 'UPSTASH_LAZY_SDK';

/**
 * The api function's OpenAPI generator (`lambda/handlers/api/openapi-route.ts`): dropped from
 * every bundle. The api stack writes the document it would generate beside the api function's
 * bundle at synth, so the generator and `@valibot/to-json-schema` are neither shipped nor parsed.
 */
export const OPENAPI_LABEL = 'UPSTASH_OPENAPI';

/** What a REST-only bundle answers when asked for TCP or migration code it was built without. */
export function tcpLeftOut(what: string): ConfigurationError {
  return new ConfigurationError(
    `${what} needs the TCP client, which this function was bundled without: its UpstashFunction lists no database reached over TCP or migrating (give it that database in \`features\` or \`databases\`)`,
  );
}
