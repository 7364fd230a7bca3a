import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayRequestAuthorizerEventV2, Context } from 'aws-lambda';
import { ApiKeyAuthorizer } from '../services/auth/api-key-authorizer';
import { expiryOf } from '../shared/api-keys';
import { ConfigurationError } from '../shared/errors';
import { logFailure } from '../shared/log';
import { resetSecretsManagerForTests, secretString } from '../shared/secrets-manager';

/**
 * The API-key authorizer of the HTTP API (payload 2.0, simple responses). API Gateway calls it
 * with the `x-api-key` header as identity source and caches the decision per key (the config's
 * `cacheTtlMs`); this container's key set is re-read after `API_KEYS_MAX_AGE_MS`; the two add up
 * to `auth.revocationDelay`. The context it returns reaches the api function as
 * `requestContext.authorizer.lambda`.
 */

/** What API Gateway expects back from a simple-response authorizer. */
export interface AuthorizerResult {
  readonly isAuthorized: boolean;
  readonly context?: {
    readonly tenant: string;
    readonly scopes: string;
    readonly keyId: string;
    /**
     * Epoch ms of the key's expiry: API Gateway caches this decision, so the api function refuses
     * the key itself once it passes (an expiry takes effect at once, not after the cache TTL).
     */
    readonly expiresAt?: number;
  };
}

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'authorizer' });

async function readKeySecret(): Promise<string | undefined> {
  const secretId = process.env.API_KEYS_SECRET_ARN;
  if (!secretId) throw new ConfigurationError('API_KEYS_SECRET_ARN is not set');
  try {
    return await secretString(secretId);
  } catch (error) {
    // A new deployment's secret has no value until the first key is minted: no keys, deny all.
    const name = (error as { name?: string }).name;
    if (name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** A whole number of ms from the environment, or `undefined` when unset or malformed. */
function msFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  const value = Number(raw);
  return raw && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * `API_KEYS_REFRESH_MS`: least ms between re-reads on unknown keys (the local stack uses 0).
 * `API_KEYS_MAX_AGE_MS`: age after which the key set is re-read, so a revoked key stops: the api
 * stack sets it to `auth.revocationDelay` less the gateway's cache TTL.
 */
function newAuthorizer(): ApiKeyAuthorizer {
  const refresh = msFromEnv('API_KEYS_REFRESH_MS');
  const maxAge = msFromEnv('API_KEYS_MAX_AGE_MS');
  return new ApiKeyAuthorizer({
    loadSecret: readKeySecret,
    ...(refresh !== undefined ? { refreshIntervalMs: refresh } : {}),
    ...(maxAge !== undefined ? { maxAgeMs: maxAge } : {}),
  });
}

let authorizer = newAuthorizer();

/** Test-only: a fresh container (forgets the key set and the SDK client). */
export function resetAuthorizerForTests(): void {
  resetSecretsManagerForTests();
  authorizer = newAuthorizer();
}

export const handler = async (
  event: APIGatewayRequestAuthorizerEventV2,
  context?: Context,
): Promise<AuthorizerResult> => {
  if (context) logger.addContext(context);
  const key = event.identitySource?.[0] ?? event.headers?.['x-api-key'];
  let record: Awaited<ReturnType<ApiKeyAuthorizer['authorize']>>;
  try {
    record = await authorizer.authorize(key);
  } catch (error) {
    // Thrown, not denied: API Gateway answers 500 and caches nothing, where a denial would be
    // cached for the whole authorizer TTL. Logged here, never with the key.
    logFailure(logger, 'authorizer failed', error, { routeKey: event.routeKey });
    throw error;
  }
  if (!record) {
    // Never the key, not even a prefix of it.
    logger.info('denied', { routeKey: event.routeKey, reason: key ? 'unknown or expired key' : 'no key' });
    return { isAuthorized: false };
  }
  const expiresAt = expiryOf(record);
  return {
    isAuthorized: true,
    context: {
      tenant: record.tenant,
      scopes: record.scopes.join(' '),
      keyId: record.id,
      ...(expiresAt !== null ? { expiresAt } : {}),
    },
  };
};
