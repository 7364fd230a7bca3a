/**
 * What the stacks hand to the Lambda runtime: where each handler lives and which database
 * secrets each function may read.
 */
import { fileURLToPath } from 'node:url';
import { type AppConfig, databasesOf, type Feature } from './config';
import type { UpstashDatabaseSecret } from './constructs/upstash-database-secret';

/** Absolute path of a handler entry in lambda/handlers, e.g. `handlerEntry('api')`. */
export function handlerEntry(name: string): string {
  return fileURLToPath(new URL(`../lambda/handlers/${name}.ts`, import.meta.url));
}

/**
 * The secrets of exactly the databases the given features use.
 *
 * @throws Error when the secrets stack has no secret for one of them
 */
export function secretsFor(
  config: AppConfig,
  secrets: Readonly<Record<string, UpstashDatabaseSecret>>,
  features: readonly Feature[],
): UpstashDatabaseSecret[] {
  return databasesOf(config, features).map((name) => {
    const secret = secrets[name];
    if (!secret)
      throw new Error(
        `no secret was given for database "${name}" (given: ${Object.keys(secrets).join(', ')})`,
      );
    return secret;
  });
}
