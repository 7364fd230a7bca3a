/**
 * `npm run api-key -- create --tenant <t> [--scopes a,b] [--label <text>] [--expires <30 d|ISO time>] [--secret-id <arn|name>]`
 * `npm run api-key -- list [--secret-id ...]`
 * `npm run api-key -- revoke --id <k_...> [--secret-id ...]`
 *
 * Manages the API-key secret through the AWS SDK: read, change, PutSecretValue. A key is printed
 * once, when minted; the secret keeps only its SHA-256. Without --secret-id it works on the local
 * stack that `npm start` runs; with it, on AWS through the SDK's usual credentials and region.
 * `list` adds each key's last-used day, read from the database of the rate limits of the
 * environment the runtime reads (the local stack's without --secret-id; `UPSTASH_DATABASES` and
 * `FEATURE_DATABASES` for a deployment, as `npm run migrate` reads them), or `?` when unreachable.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ApiKeyUsage } from '../lambda/services/auth/key-usage';
import {
  type ApiKeySet,
  isExpired,
  mintApiKey,
  parseApiKeySet,
  SCOPES,
  serializeApiKeySet,
} from '../lambda/shared/api-keys';
import { keyBuilder, redisFor } from '../lambda/shared/runtime';
import { parseDuration } from '../lib/config';
import { flagError, oneLine } from './cli-errors';
import { readStackFile } from './stack-file';

const USAGE = `Usage:
  npm run api-key -- create --tenant <tenant> [--scopes ${SCOPES.join(',')}]
                            [--label <text>] [--expires <"30 d" | ISO 8601 time>] [--secret-id <arn|name>]
  npm run api-key -- list [--secret-id <arn|name>]
  npm run api-key -- revoke --id <k_...> [--secret-id <arn|name>]
Without --secret-id: the local stack of \`npm start\`. Scopes default to * (all); keys never
expire unless --expires says when.`;

/** `--expires`: a duration from now ("30 d") or an ISO 8601 time. */
function expiryOf(text: string, now: Date): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = new Date(text);
    if (Number.isNaN(at.getTime())) throw new Error(`--expires: not a time: ${text}`);
    return at;
  }
  try {
    return new Date(now.getTime() + parseDuration(text, '--expires'));
  } catch {
    throw new Error(
      `--expires must be a duration like "30 d" or an ISO 8601 time, got ${JSON.stringify(text)}`,
    );
  }
}

/**
 * Each key's last-used day from the environment the runtime reads, or `null` when no database
 * can be reached (a deployment's `list` without UPSTASH_DATABASES, or no local stack).
 */
async function lastUsedDays(local: boolean): Promise<Map<string, string> | null> {
  try {
    if (local && !process.env.UPSTASH_DATABASES && !process.env.UPSTASH_REDIS_REST_URL) {
      Object.assign(process.env, readStackFile().env);
    }
    const usage = new ApiKeyUsage({ redis: await redisFor('rateLimit'), keys: keyBuilder() });
    return await usage.lastUsed();
  } catch {
    return null;
  }
}

/** Where the secret lives: the local stack's endpoint or AWS. */
interface Target {
  readonly client: SecretsManagerClient;
  readonly secretId: string;
}

function target(secretId: string | undefined): Target {
  if (secretId) return { client: new SecretsManagerClient({}), secretId };
  const env = readStackFile().env;
  // The local stack runs on whatever Node is here; the SDK's Node 20 notice is noise for it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return {
    client: new SecretsManagerClient({
      endpoint: env.AWS_ENDPOINT_URL_SECRETS_MANAGER,
      region: env.AWS_REGION ?? 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    secretId: env.API_KEYS_SECRET_ARN ?? 'upstash/api-keys',
  };
}

async function read({ client, secretId }: Target): Promise<ApiKeySet> {
  try {
    const reply = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return parseApiKeySet(reply.SecretString);
  } catch (error) {
    // A freshly deployed secret has no value yet: AWS answers ResourceNotFoundException.
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return { keys: [] };
    throw error;
  }
}

async function write({ client, secretId }: Target, set: ApiKeySet): Promise<void> {
  await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: serializeApiKeySet(set) }));
}

const OPTIONS = {
  tenant: { type: 'string' },
  scopes: { type: 'string' },
  label: { type: 'string' },
  expires: { type: 'string' },
  id: { type: 'string' },
  'secret-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {}

/** An error as the user can act on it. */
function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') {
    return 'the local stack does not answer (it may have just stopped): start it with `npm start`';
  }
  if (error.name === 'CredentialsProviderError') {
    return `no AWS credentials for --secret-id (${error.message}); set AWS_PROFILE or AWS_ACCESS_KEY_ID, or leave out --secret-id for the local stack`;
  }
  return error.message;
}

/** Runs the CLI; returns the exit code. Exported for tests. */
export async function main(
  argv: readonly string[],
  out: (line: string) => void = console.log,
): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  } catch (error) {
    throw new UsageError(flagError(error, 'npm run api-key -- --help lists them'));
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || !command) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['create', 'list', 'revoke'].includes(command)) {
    throw new UsageError(
      `unknown command "${command}"; the commands are create, list and revoke (npm run api-key -- --help)`,
    );
  }
  if (command === 'create' && !values.tenant) throw new UsageError('create needs --tenant <tenant>');
  if (command === 'revoke' && !values.id) {
    throw new UsageError('revoke needs --id <k_...> (npm run api-key -- list shows them)');
  }
  const where = target(values['secret-id']);
  try {
    if (command === 'create') {
      if (!values.tenant) throw new UsageError('create needs --tenant <tenant>');
      const scopes = values.scopes ? values.scopes.split(',').map((s) => s.trim()) : ['*'];
      const now = new Date();
      const minted = mintApiKey(values.tenant, scopes, now, {
        ...(values.label !== undefined ? { label: values.label } : {}),
        ...(values.expires !== undefined ? { expiresAt: expiryOf(values.expires, now) } : {}),
      });
      const set = await read(where);
      await write(where, { keys: [...set.keys, minted.record] });
      const expiry = minted.record.expiresAt ? `, expires ${minted.record.expiresAt}` : '';
      out(
        `API key for tenant "${minted.record.tenant}" (id ${minted.record.id}, scopes ${scopes.join(',')}${expiry}):`,
      );
      out(minted.key);
      out('It is shown only now: the secret stores its SHA-256, not the key.');
      return 0;
    }
    if (command === 'list') {
      const set = await read(where);
      if (set.keys.length === 0) out('no keys');
      const days = set.keys.length > 0 ? await lastUsedDays(!values['secret-id']) : new Map<string, string>();
      for (const k of set.keys) {
        const expires = k.expiresAt ? `${k.expiresAt}${isExpired(k) ? ' (expired)' : ''}` : 'never';
        out(
          `${k.id}  tenant=${k.tenant}  scopes=${k.scopes.join(',')}  created=${k.createdAt ?? '-'}  expires=${expires}  last-used=${days ? (days.get(k.id) ?? 'never') : '?'}${k.label ? `  label=${JSON.stringify(k.label)}` : ''}`,
        );
      }
      if (set.keys.length > 0 && !days)
        out('last-used: ? (no database of the rate limits reachable from here)');
      return 0;
    }
    if (command === 'revoke') {
      if (!values.id) throw new UsageError('revoke needs --id <k_...> (npm run api-key -- list shows them)');
      const set = await read(where);
      const keys = set.keys.filter((k) => k.id !== values.id);
      if (keys.length === set.keys.length) throw new Error(`no key has id ${values.id}`);
      await write(where, { keys });
      out(
        `revoked ${values.id}; it stops working within auth.revocationDelay (5 minutes by default): API Gateway's authorizer cache plus the authorizer's key-set refresh.`,
      );
      return 0;
    }
    throw new UsageError(
      `unknown command "${command}"; the commands are create, list and revoke (npm run api-key -- --help)`,
    );
  } finally {
    where.client.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      // One line, with what to do; never a stack trace.
      console.error(`npm run api-key: ${oneLine(describe(error))}`);
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
