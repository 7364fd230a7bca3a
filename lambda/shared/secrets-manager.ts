import { LAZY_SDK_LABEL } from './bundle-labels';
import { ConfigurationError } from './errors';
import { memoize } from './memo';
import type { UPSTASH_SECRETS_MANAGER_SDK as Sdk } from './secrets-manager-client';

/**
 * The one Secrets Manager client of the container, shared by the credentials loader and the
 * API-key authorizer. Region, credentials and endpoint come from the standard chain
 * (`AWS_REGION`, the role, `AWS_ENDPOINT_URL_SECRETS_MANAGER` locally).
 *
 * Where the SDK comes from: in `UpstashFunction`'s bundles it is part of the bundle, minified
 * (faster to load than the Lambda runtime's copy: docs/architecture.md), and bound to the global
 * name below by esbuild `inject`. Anywhere else it is imported on the first secret read: it is an
 * optional peer dependency of the package, needed only by the paths that read a secret (a client
 * built from a URL and token never loads it).
 */
declare const UPSTASH_SECRETS_MANAGER_SDK: typeof Sdk | undefined;

// Dropped from the bundles (bundle-labels.ts), which have the SDK bound above.
let importSdk: (() => Promise<typeof Sdk>) | undefined;
UPSTASH_LAZY_SDK: importSdk = () =>
  import('./secrets-manager-client').then((m) => m.UPSTASH_SECRETS_MANAGER_SDK);

const client = memoize(async () => {
  const sdk =
    typeof UPSTASH_SECRETS_MANAGER_SDK !== 'undefined' ? UPSTASH_SECRETS_MANAGER_SDK : await importSdk?.();
  if (!sdk) {
    throw new ConfigurationError(
      `this bundle has no Secrets Manager client: it drops the label ${LAZY_SDK_LABEL} without injecting lambda/shared/secrets-manager-client`,
    );
  }
  return {
    sdk,
    client: new sdk.SecretsManagerClient({
      // The SDK's own retries (3 attempts, throttling-aware) are right for an idempotent read;
      // the timeouts keep a hung connection from eating the function's timeout.
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
      streamCollector: collect,
    }),
  };
});

/** A response body (Node's IncomingMessage from the SDK's handler) read whole. */
const collect = (stream: NodeJS.ReadableStream): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
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
