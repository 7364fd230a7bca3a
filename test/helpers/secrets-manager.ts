import { SecretsManagerEndpoint } from '../../local/secrets-manager/server';

/**
 * Starts a local Secrets Manager and points the AWS SDK of this test process at it (endpoint,
 * dummy credentials, region). Every test file runs in its own process, so the env stays local.
 */
export async function startLocalSecretsManager(
  secrets: Record<string, string> = {},
): Promise<SecretsManagerEndpoint> {
  const endpoint = await SecretsManagerEndpoint.start({ secrets });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint.url,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    // The SDK warns once per process about Node 20; the Lambda runtime is newer.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  return endpoint;
}
