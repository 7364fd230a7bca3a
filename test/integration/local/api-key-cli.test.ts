import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyUsage } from '../../../lambda/services/auth/key-usage';
import { hashApiKey, parseApiKeySet } from '../../../lambda/shared/api-keys';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { SecretsManagerEndpoint } from '../../../local/secrets-manager/server';
import { writeStackFile } from '../../../local/stack-file';
import type { UpstashEndpoint } from '../../../local/upstash/server';
import { privateEndpoint, randomPrefix } from '../../helpers/redis';

/**
 * `npm run api-key` against the local Secrets Manager endpoint through the real AWS SDK: the
 * local-stack target (found through the stack file) and the --secret-id target (the SDK's usual
 * configuration, pointed at the local endpoint by AWS_ENDPOINT_URL_SECRETS_MANAGER).
 */

const dir = mkdtempSync(join(tmpdir(), 'api-key-cli-'));
const stackFile = join(dir, 'stack.json');
// This file's own stack file (the CLI resolves LOCAL_STACK_FILE when it runs).
process.env.LOCAL_STACK_FILE = stackFile;

type Main = (argv: readonly string[], out?: (line: string) => void) => Promise<number>;

describe('npm run api-key', () => {
  let secrets: SecretsManagerEndpoint;
  let keysArn: string;
  let main: Main;
  let upstash: Awaited<ReturnType<typeof privateEndpoint>>;
  let endpoint: UpstashEndpoint;
  const prefix = randomPrefix();

  const run = async (...argv: string[]): Promise<{ code: number; lines: string[] }> => {
    const lines: string[] = [];
    const code = await main(argv, (line) => lines.push(line));
    return { code, lines };
  };

  beforeAll(async () => {
    secrets = await SecretsManagerEndpoint.start();
    keysArn = secrets.create('upstash/api-keys', '');
    secrets.create('other/empty', '');
    // The stack's database: where the api function records the days keys were last used.
    upstash = await privateEndpoint('api-key-cli');
    endpoint = upstash.endpoint;
    writeStackFile({
      pid: process.pid,
      url: 'http://127.0.0.1:1',
      upstashUrl: endpoint.url,
      secretsUrl: secrets.url,
      env: {
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
        API_KEYS_SECRET_ARN: keysArn,
        AWS_REGION: 'us-east-1',
        UPSTASH_REDIS_REST_URL: endpoint.url,
        UPSTASH_REDIS_REST_TOKEN: upstash.token,
        KEY_PREFIX: prefix,
      },
    });
    // For --secret-id: the SDK's default chain, aimed at the local endpoint.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    ({ main } = (await import('../../../local/api-key-cli')) as { main: Main });
  });
  afterAll(async () => {
    await secrets?.close();
    await endpoint?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a key on the local stack: printed once, only its hash stored', async () => {
    const { code, lines } = await run('create', '--tenant', 'acme', '--scopes', 'cache:read,cache:write');
    expect(code).toBe(0);
    const keyLines = lines.filter((l) => /usk_/.test(l));
    expect(keyLines).toHaveLength(1);
    const key = keyLines[0] as string;
    expect(key).toMatch(/^usk_[A-Za-z0-9_-]+$/);
    const stored = secrets.value(keysArn) ?? '';
    expect(stored).not.toContain(key);
    const set = parseApiKeySet(stored);
    expect(set.keys).toEqual([
      {
        id: expect.stringMatching(/^k_[0-9a-f]{8}$/),
        hash: hashApiKey(key),
        tenant: 'acme',
        scopes: ['cache:read', 'cache:write'],
        createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      },
    ]);
    expect(lines.join('\n')).toContain(set.keys[0]?.id);
  });

  it('lists ids, tenants, scopes, dates, expiry, label and the last-used day, never a key or a hash', async () => {
    const minted = await run('create', '--tenant', 'beta', '--label', 'ci deploys', '--expires', '30 d');
    expect(minted.lines[0]).toMatch(/\(id k_[0-9a-f]{8}, scopes \*, expires \d{4}-\d{2}-\d{2}T/);
    const set = parseApiKeySet(secrets.value(keysArn));
    expect(set.keys).toHaveLength(2);
    const [first, second] = set.keys as [(typeof set.keys)[0], (typeof set.keys)[0]];
    expect(second).toMatchObject({ tenant: 'beta', label: 'ci deploys' });
    const expiresIn = Date.parse(second.expiresAt as string) - Date.now();
    expect(expiresIn).toBeGreaterThan(29 * 86_400_000);
    expect(expiresIn).toBeLessThanOrEqual(30 * 86_400_000);
    // The api function records a key's day as it serves it (one write per day per container).
    await new ApiKeyUsage({ redis: upstash.redis, keys: new KeyBuilder(prefix) }).touch(first.id);
    const today = new Date().toISOString().slice(0, 10);

    const { code, lines } = await run('list');
    expect(code).toBe(0);
    expect(lines).toEqual([
      `${first.id}  tenant=${first.tenant}  scopes=${first.scopes.join(',')}  created=${first.createdAt}  expires=never  last-used=${today}`,
      `${second.id}  tenant=beta  scopes=*  created=${second.createdAt}  expires=${second.expiresAt}  last-used=never  label="ci deploys"`,
    ]);
    for (const record of set.keys) expect(lines.join('\n')).not.toContain(record.hash);
    expect(lines.join('\n')).not.toContain('usk_');
  });

  it('refuses an expiry in the past or one it cannot read, and a label with control characters', async () => {
    const stored = secrets.value(keysArn);
    await expect(run('create', '--tenant', 'acme', '--expires', '2000-01-01T00:00:00Z')).rejects.toThrow(
      /expire in the future/,
    );
    await expect(run('create', '--tenant', 'acme', '--expires', 'soon')).rejects.toThrow(/--expires/);
    await expect(run('create', '--tenant', 'acme', '--label', 'a\u0007b')).rejects.toThrow(/label/);
    expect(secrets.value(keysArn)).toBe(stored);
  });

  it('revokes by id, and refuses an unknown id without writing', async () => {
    const before = parseApiKeySet(secrets.value(keysArn)).keys;
    const target = before[0];
    if (!target) throw new Error('no key to revoke');
    const { code, lines } = await run('revoke', '--id', target.id);
    expect(code).toBe(0);
    expect(lines.join('\n')).toContain(`revoked ${target.id}`);
    const after = parseApiKeySet(secrets.value(keysArn)).keys;
    expect(after.map((k) => k.id)).toEqual(before.slice(1).map((k) => k.id));
    const stored = secrets.value(keysArn);
    await expect(run('revoke', '--id', 'k_00000000')).rejects.toThrow(/no key has id k_00000000/);
    expect(secrets.value(keysArn)).toBe(stored);
  });

  it('refuses a bad scope, a missing tenant or an unknown command without writing', async () => {
    const stored = secrets.value(keysArn);
    await expect(run('create', '--tenant', 'acme', '--scopes', 'root')).rejects.toThrow(/scope/);
    await expect(run('create')).rejects.toThrow(/--tenant/);
    expect(secrets.value(keysArn)).toBe(stored);
    await expect(run('frobnicate')).rejects.toThrow(/unknown command "frobnicate"/);
    const usage = await run();
    expect(usage.code).toBe(2);
    expect(usage.lines.join('\n')).toContain('npm run api-key -- create --tenant');
  });

  it('works on any secret with --secret-id; an empty or missing secret has no keys', async () => {
    expect((await run('list', '--secret-id', 'other/empty')).lines).toEqual(['no keys']);
    expect((await run('list', '--secret-id', 'does/not-exist')).lines).toEqual(['no keys']);
    const { code, lines } = await run('create', '--tenant', 'prod', '--secret-id', 'other/empty');
    expect(code).toBe(0);
    const key = lines.find((l) => l.startsWith('usk_')) as string;
    expect(parseApiKeySet(secrets.value('other/empty')).keys.map((k) => k.hash)).toEqual([hashApiKey(key)]);
    // The local stack's secret was not touched.
    expect(parseApiKeySet(secrets.value(keysArn)).keys.some((k) => k.tenant === 'prod')).toBe(false);
  });

  it('as a command: exits 1 with how to start the stack when none is running', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/api-key-cli.ts', 'list'], {
      env: { ...process.env, LOCAL_STACK_FILE: join(dir, 'missing.json') },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(err).toContain('npm start');
  });
});
