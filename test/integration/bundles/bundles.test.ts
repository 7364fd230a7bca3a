import { spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintApiKey, serializeApiKeySet } from '../../../lambda/shared/api-keys';
import { defineStacks } from '../../../lib/app-stacks';
import { configFromContext, parseConfig, runtimeConfig } from '../../../lib/config';
import type { UpstashFunction } from '../../../lib/constructs/upstash-function';
import type { SecretsManagerEndpoint } from '../../../local/secrets-manager/server';
import { apiEvent } from '../../helpers/http';
import { schedulerEvent } from '../../helpers/lambda';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';
import { startLocalSecretsManager } from '../../helpers/secrets-manager';
import { CDK_CONTEXT } from '../../infra/helpers';

/**
 * The bundles in cdk.out, as `cdk synth` builds them (ESM, minified, Node 24, @aws-sdk/* left to
 * the runtime, the require banner), each run in a fresh Node process with no access to the source
 * tree: what deploys is what works.
 */

/** Bytes each bundle may weigh; a jump past these is a dependency slipping in. */
// REST-only functions leave ioredis out (about 140 KB): the budgets hold them to that.
const BUDGET: Record<string, number> = {
  // REST-only (no ioredis): 220 KB after issue 17; issue 16's request schemas, the OpenAPI
  // document (valibot, @valibot/to-json-schema) and the new routes and services add about 60 KB.
  api: 290_000,
  authorizer: 60_000,
  'queue-worker': 240_000,
  maintenance: 215_000,
  'usage-probe': 190_000,
};

// Runs the events one after another in one process (a cold then warm container) and prints the
// results after a marker, since the handlers log to stdout too.
const RUNNER = `
import { readFileSync } from 'node:fs';
const mod = await import(process.argv[2]);
const events = JSON.parse(readFileSync(0, 'utf8'));
const context = { functionName: 'bundle', awsRequestId: 'r', getRemainingTimeInMillis: () => 10000 };
const results = [];
for (const event of events) results.push(await mod.handler(event, context));
process.stdout.write('\\n@@RESULTS@@' + JSON.stringify(results));
`;

describe('Lambda bundles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bundles-'));
  let sm: SecretsManagerEndpoint;
  const key = mintApiKey('acme');
  let env: Record<string, string>;

  beforeAll(async () => {
    writeFileSync(join(dir, 'runner.mjs'), RUNNER);
    // The Lambda runtime provides @aws-sdk/* (the bundles leave it out); nothing else is there.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(join(process.cwd(), 'node_modules', '@aws-sdk'), join(dir, 'node_modules', '@aws-sdk'));
    sm = await startLocalSecretsManager({ 'upstash/api-keys': serializeApiKeySet({ keys: [key.record] }) });
    const { url, token } = sharedEndpoint();
    env = {
      PATH: process.env.PATH ?? '',
      UPSTASH_REDIS_REST_URL: url,
      UPSTASH_REDIS_REST_TOKEN: token,
      KEY_PREFIX: randomPrefix(),
      APP_CONFIG: JSON.stringify(runtimeConfig(parseConfig({ databases: { main: { secretName: 'm' } } }))),
      API_KEYS_SECRET_ARN: sm.arn('upstash/api-keys'),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_METRICS_NAMESPACE: 'BundleTest',
    };
    // The bundles `cdk deploy` would upload: synthesize the real app with bundling on.
    const outdir = join(dir, 'cdk.out');
    const app = new App({
      outdir,
      context: { ...CDK_CONTEXT, 'aws:cdk:disable-stack-trace': true },
    });
    const stacks = defineStacks(app, configFromContext(app.node));
    app.synth();
    const functions: Record<string, UpstashFunction | undefined> = {
      api: stacks.api.apiFunction,
      authorizer: stacks.api.authorizerFunction,
      'queue-worker': stacks.jobs.queueWorker,
      maintenance: stacks.jobs.maintenance,
      'usage-probe': stacks.jobs.usageProbe,
    };
    for (const [name, fn] of Object.entries(functions)) {
      if (!fn) throw new Error(`the app has no ${name} function`);
      const code = Stack.of(fn).resolve((fn.function.node.defaultChild as CfnFunction).code) as {
        s3Key: string;
      };
      const asset = join(outdir, `asset.${code.s3Key.replace(/\.zip$/, '')}`);
      expect(readdirSync(asset).sort()).toEqual(['index.mjs', 'index.mjs.map']);
      copyFileSync(join(asset, 'index.mjs'), join(dir, `${name}.mjs`));
    }
    // Synthesizes the whole app and bundles five functions with esbuild: a few seconds on a quiet
    // machine, ten times that with the cores busy, so the default hook timeout is not enough.
  }, 180_000);
  afterAll(async () => {
    await sm.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs `events` through the bundle of `name` in a fresh process. Asynchronous: the local
   * Secrets Manager answers from this process, so it must not block.
   */
  async function run(name: string, events: unknown[]): Promise<unknown[]> {
    const child = spawn(process.execPath, [join(dir, 'runner.mjs'), join(dir, `${name}.mjs`)], {
      env,
      // Outside the project, so only the bundle and the runtime's @aws-sdk can resolve imports.
      cwd: dir,
      timeout: 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.stdin.end(JSON.stringify(events));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const marker = stdout.lastIndexOf('@@RESULTS@@');
    expect(marker, `${name} exited ${code}: ${stderr}`).toBeGreaterThan(-1);
    return JSON.parse(stdout.slice(marker + '@@RESULTS@@'.length));
  }

  it('keeps every bundle within its size budget', () => {
    for (const [name, budget] of Object.entries(BUDGET)) {
      expect(statSync(join(dir, `${name}.mjs`)).size, name).toBeLessThan(budget);
    }
  });

  it('api: serves health, a write and a warm read from the bundle', async () => {
    const [health, put, get] = (await run('api', [
      apiEvent({ method: 'GET', path: '/health' }),
      apiEvent({ method: 'PUT', path: '/cache/b', body: { ok: true }, tenant: 'acme' }),
      apiEvent({ method: 'GET', path: '/cache/b', tenant: 'acme' }),
    ])) as Array<{ statusCode: number; body: string }>;
    expect(health?.statusCode).toBe(200);
    expect(put?.statusCode).toBe(200);
    expect(JSON.parse(get?.body ?? '')).toEqual({ key: 'b', value: { ok: true } });
  });

  it('authorizer: reads the key set through the AWS SDK and decides', async () => {
    const event = (k: string) => ({ version: '2.0', type: 'REQUEST', identitySource: [k], headers: {} });
    expect(await run('authorizer', [event(key.key), event('usk_nope')])).toEqual([
      { isAuthorized: true, context: { tenant: 'acme', scopes: '*', keyId: key.record.id } },
      { isAuthorized: false },
    ]);
  });

  it('queue-worker and maintenance: run one scheduled tick each', async () => {
    const [drained] = await run('queue-worker', [schedulerEvent('queue-worker', { safetyMarginMs: 9_000 })]);
    expect(drained).toMatchObject({ queue: 'default', skipped: false });
    const [maintained] = await run('maintenance', [schedulerEvent('maintenance')]);
    expect(maintained).toMatchObject({ queue: 'default', skipped: false });
  });

  it('usage-probe: reads the size of its database (INFO through the bundled client)', async () => {
    const [probed] = await run('usage-probe', [schedulerEvent('usage-probe')]);
    expect(probed).toEqual([
      { database: 'default', ok: true, keys: expect.any(Number), usedMemoryBytes: expect.any(Number) },
    ]);
  });
});
