import { memoize } from './memo';

/**
 * The one Secrets Manager client of the container, shared by the credentials loader and the
 * API-key authorizer. The SDK is loaded on the first secret read, not at import: it is provided
 * by the Lambda runtime (so not bundled) and an optional peer dependency of the package, needed
 * only by the paths that read a secret (a client built from a URL and token never loads it).
 * Region, credentials and endpoint come from the standard chain (`AWS_REGION`, the role,
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` locally).
 */

const client = memoize(async () => {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  return {
    sdk,
    client: new sdk.SecretsManagerClient({
      // The SDK's own retries (3 attempts, throttling-aware) are right for an idempotent read;
      // the timeouts keep a hung connection from eating the function's timeout.
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
    }),
  };
});

/** The `SecretString` of a secret (ARN or name); SDK errors pass through (they carry no value). */
export async function secretString(secretId: string): Promise<string | undefined> {
  const { sdk, client: sm } = await client();
  const reply = await sm.send(new sdk.GetSecretValueCommand({ SecretId: secretId }));
  return reply.SecretString;
}

/**
 * Test-only: forgets the client (it read the endpoint from the environment when it was built), as
 * a cold start would.
 */
export function resetSecretsManagerForTests(): void {
  const built = client.peek();
  client.forget();
  void built?.then(({ client: sm }) => sm.destroy()).catch(() => {});
}
