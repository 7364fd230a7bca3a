/**
 * What the project's stacks hand to the Lambda runtime: where each handler lives and which
 * database serves each feature of a function.
 */
import { fileURLToPath } from 'node:url';
import type { AppConfig, Feature } from './config';
import type { UpstashDatabaseSecret } from './constructs/upstash-database-secret';
import type { FeatureDatabases, UpstashFunction } from './constructs/upstash-function';

/** Absolute path of a handler entry in lambda/handlers, e.g. `handlerEntry('api')`. */
export function handlerEntry(name: string): string {
  return fileURLToPath(new URL(`../lambda/handlers/${name}.ts`, import.meta.url));
}

/**
 * Which secret serves each of `features`, from the configuration's feature → database map: what
 * an {@link UpstashFunction}'s `features` prop takes.
 *
 * @throws Error when the secrets stack has no secret for one of them
 */
export function featureSecrets(
  config: AppConfig,
  secrets: Readonly<Record<string, UpstashDatabaseSecret>>,
  features: readonly Feature[],
): FeatureDatabases {
  return Object.fromEntries(
    features.map((feature) => {
      const name = config.features[feature];
      const secret = secrets[name];
      if (!secret) {
        throw new Error(
          `no secret was given for database "${name}" (given: ${Object.keys(secrets).join(', ')})`,
        );
      }
      return [feature, secret];
    }),
  );
}
