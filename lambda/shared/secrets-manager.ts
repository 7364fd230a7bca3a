import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * The one Secrets Manager client of the container, shared by the credentials loader and the
 * API-key authorizer. Created on first use, so a function that never reads a secret never loads
 * the SDK client. Region, credentials and endpoint come from the standard chain (`AWS_REGION`,
 * the role, `AWS_ENDPOINT_URL_SECRETS_MANAGER` locally). The SDK is provided by the Lambda runtime
 * (not bundled): an optional peer dependency of the package, needed only by these paths.
 */

let client: SecretsManagerClient | undefined;

/** The container's client. */
export function secretsManager(): SecretsManagerClient {
  client ??= new SecretsManagerClient({
    // The SDK's own retries (3 attempts, throttling-aware) are right for an idempotent read;
    // the timeouts keep a hung connection from eating the function's timeout.
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
  });
  return client;
}

/** The `SecretString` of a secret (ARN or name); SDK errors pass through (they carry no value). */
export async function secretString(secretId: string): Promise<string | undefined> {
  const reply = await secretsManager().send(new GetSecretValueCommand({ SecretId: secretId }));
  return reply.SecretString;
}

/**
 * Test-only: forgets the client (it read the endpoint from the environment when it was built), as
 * a cold start would.
 */
export function resetSecretsManagerForTests(): void {
  client?.destroy();
  client = undefined;
}
