/**
 * `npx tsx local/secrets-manager-cli.ts --port 4566 --secret upstash/state=@state.json`
 *
 * Runs the local Secrets Manager endpoint in the foreground. `--secret <name>=<json>` or
 * `--secret <name>=@<file>` (repeatable) creates a secret; then point the SDK at it with
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:4566` and dummy AWS credentials.
 * Prints names and ARNs, never values.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SecretsManagerEndpoint } from './secrets-manager/server';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4566' },
    host: { type: 'string', default: '127.0.0.1' },
    secret: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(
    'Usage: npx tsx local/secrets-manager-cli.ts [--port 4566] [--host 127.0.0.1] [--secret <name>=<json>|@<file> ...]',
  );
  process.exit(0);
}

const secrets: Record<string, string> = {};
for (const spec of values.secret ?? []) {
  const at = spec.indexOf('=');
  if (at < 1) {
    console.error(`error: --secret wants <name>=<json> or <name>=@<file>, got a value without "="`);
    process.exit(2);
  }
  const value = spec.slice(at + 1);
  secrets[spec.slice(0, at)] = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`error: --port must be a port number, got "${values.port}"`);
  process.exit(2);
}

const endpoint = await SecretsManagerEndpoint.start({ port, host: values.host, secrets });
console.log(
  `Secrets Manager endpoint ready at ${endpoint.url} (AWS_ENDPOINT_URL_SECRETS_MANAGER=${endpoint.url})`,
);
for (const name of Object.keys(secrets)) console.log(`  ${name}: ${endpoint.arn(name)}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void endpoint.close().then(() => process.exit(0));
  });
}
