import { spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentOpenApi } from '../../../lambda/handlers/api/openapi-document';
import { OPENAPI_FILE } from '../../../lambda/handlers/api/openapi-route';
import { mintApiKey, serializeApiKeySet } from '../../../lambda/shared/api-keys';
import { defineStacks } from '../../../lib/app-stacks';
import { configFromContext, parseConfig, runtimeConfig } from '../../../lib/config';
import { UpstashFunction } from '../../../lib/constructs/upstash-function';
import { esbuildOptions } from '../../../lib/esbuild-options';
import { handlerEntry } from '../../../lib/runtime';
import type { SecretsManagerEndpoint } from '../../../local/secrets-manager/server';
import { apiEvent } from '../../helpers/http';
import { schedulerEvent } from '../../helpers/lambda';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';
import { startLocalSecretsManager } from '../../helpers/secrets-manager';
import { CDK_CONTEXT } from '../../infra/helpers';

/**
 * The bundles in cdk.out, as `cdk synth` builds them (lib/constructs/upstash-function.ts: ESM,
 * minified, Node 24, the require banner, the Secrets Manager client inside), each run in a fresh
 * Node process with no access to the source tree and no AWS SDK beside it: what deploys is what
 * works. Their esbuild metafiles (the same build through the esbuild API, byte for byte) hold
 * them to a budget and to what their databases need.
 */

/**
 * Bytes each bundle may weigh besides the AWS SDK; a jump past these is a dependency slipping in.
 * The SDK (the Secrets Manager client, about 150 KB in every function, bundled because it loads
 * in about half the CPU time of the runtime's copy: docs/architecture.md) has a budget of its own,
 * {@link SDK_BUDGET}: its size follows the SDK's version, not our code. The 200 KB for the
 * api was set when the SDK was left to the runtime; the api's own part is 245 KB since issue 16
 * (its routes, request schemas, idempotency, stats), of which `@upstash/redis` is 80 KB.
 */
const BUDGET: Record<string, number> = {
  api: 265_000,
  authorizer: 32_000,
  'queue-worker': 225_000,
  maintenance: 195_000,
  'usage-probe': 165_000,
};
/** Bytes of the AWS SDK in any bundle: the bare client and one command, tree-shaken. */
const SDK_BUDGET = 160_000;
/** The AWS SDK's source files in a bundle (its packages, as the bench counts them). */
const SDK_FILE = /node_modules\/@(aws-sdk|smithy|aws)\//;

/** Source files that only a function with a database over TCP (or migrating) may contain. */
const TCP_ONLY = [
  /node_modules\/ioredis\//,
  /lambda\/shared\/(redis-tcp|migration)\.ts$/,
  /lambda\/services\/migration\/copy\.ts$/,
];

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

  /** Each function's construct, and the metafile of its bundle. */
  const built: Record<string, { fn: UpstashFunction; metafile: Metafile }> = {};

  beforeAll(async () => {
    writeFileSync(join(dir, 'runner.mjs'), RUNNER);
    // No node_modules: the bundles carry the AWS SDK; the runtime's copy is not there to fall back on.
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
      // As in Lambda: the runtime API's address (never called here) says one invocation at a
      // time, so the per-invocation values are plain slots (lambda/shared/invocation-store.ts).
      AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
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
      // The api function's OpenAPI document is generated at synth and shipped beside its bundle.
      const extra = name === 'api' ? [OPENAPI_FILE] : [];
      expect(readdirSync(asset).sort()).toEqual(['index.mjs', 'index.mjs.map', ...extra]);
      copyFileSync(join(asset, 'index.mjs'), join(dir, `${name}.mjs`));
      for (const file of extra) copyFileSync(join(asset, file), join(dir, file));
      // The same build through the esbuild API, for its metafile.
      const outfile = join(dir, 'meta', name, 'index.mjs');
      const result = await build({
        ...esbuildOptions(fn.bundling, handlerEntry(name), outfile),
        absWorkingDir: process.cwd(),
        metafile: true,
        logLevel: 'silent',
      });
      expect(readFileSync(outfile, 'utf8'), `${name}: the API build is the synthesized bundle`).toBe(
        readFileSync(join(asset, 'index.mjs'), 'utf8'),
      );
      built[name] = { fn, metafile: result.metafile };
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
    return (await runWithOutput(name, events)).results;
  }

  /** {@link run}, with the process's log lines (stdout and stderr) and environment changes. */
  async function runWithOutput(
    name: string,
    events: unknown[],
    extraEnv: Record<string, string> = {},
  ): Promise<{ results: unknown[]; logs: string }> {
    const child = spawn(process.execPath, [join(dir, 'runner.mjs'), join(dir, `${name}.mjs`)], {
      env: { ...env, ...extraEnv },
      // Outside the project, so only the bundle can resolve imports.
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
    return {
      results: JSON.parse(stdout.slice(marker + '@@RESULTS@@'.length)),
      logs: stdout.slice(0, marker) + stderr,
    };
  }

  /** The bundle's output in the metafile, and its inputs with the bytes each put in it. */
  const output = (name: string) => {
    const [file, out] =
      Object.entries(built[name]?.metafile.outputs ?? {}).find(([f]) => f.endsWith('.mjs')) ?? [];
    if (!file || !out) throw new Error(`no metafile output for ${name}`);
    return { bytes: out.bytes, inputs: Object.entries(out.inputs).filter(([, i]) => i.bytesInOutput > 0) };
  };

  it('keeps every bundle within its size budget, the AWS SDK apart (esbuild metafile)', () => {
    expect(Object.keys(built).sort()).toEqual(Object.keys(BUDGET).sort());
    for (const [name, budget] of Object.entries(BUDGET)) {
      const { bytes, inputs } = output(name);
      const sdk = inputs.filter(([file]) => SDK_FILE.test(file)).reduce((n, [, i]) => n + i.bytesInOutput, 0);
      expect(sdk, `${name}: the AWS SDK`).toBeGreaterThan(0);
      expect(sdk, `${name}: the AWS SDK`).toBeLessThan(SDK_BUDGET);
      expect(bytes - sdk, `${name} without the AWS SDK`).toBeLessThan(budget);
    }
  });

  it('leaves ioredis, the TCP client and the migration code out of every function whose databases are REST', () => {
    for (const [name, { fn }] of Object.entries(built)) {
      expect(
        fn.databases.every((db) => db.mode === 'rest' && !db.migrating),
        name,
      ).toBe(true);
      const tcpInputs = output(name).inputs.filter(([file]) => TCP_ONLY.some((re) => re.test(file)));
      expect(
        tcpInputs.map(([file]) => file),
        name,
      ).toEqual([]);
      expect(readFileSync(join(dir, `${name}.mjs`), 'utf8'), name).not.toContain('ioredis');
    }
  });

  it('says which construct setting is missing when a REST-only bundle meets a TCP database', async () => {
    const { results, logs } = await runWithOutput(
      'api',
      [apiEvent({ method: 'GET', path: '/cache/b', tenant: 'acme' })],
      { UPSTASH_DATABASES: '{"legacy":{"mode":"tcp"}}', REDIS_URL: 'redis://127.0.0.1:1' },
    );
    const [answer] = results as Array<{ statusCode: number; body: string }>;
    expect(answer?.statusCode).toBe(500);
    expect(JSON.parse(answer?.body ?? '{}').error.code).toBe('CONFIGURATION_ERROR');
    expect(logs).toContain(
      'database \\"legacy\\" needs the TCP client, which this function was bundled without: its UpstashFunction lists no database reached over TCP or migrating',
    );
  });

  it('bundles them for a function with a database over TCP (the construct picks that build)', async () => {
    const tcp = UpstashFunction.bundling(undefined, true);
    const result = await build({
      ...esbuildOptions(tcp, handlerEntry('queue-worker'), join(dir, 'meta', 'tcp', 'index.mjs')),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(
      Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.inputs ?? {},
    );
    for (const re of TCP_ONLY)
      expect(
        inputs.some((file) => re.test(file)),
        String(re),
      ).toBe(true);
  });

  it('keeps every bundled module in the top-level code: no lazily imported module is bundled', () => {
    // A module bundled behind import() is wrapped in a lazy initialiser, with all the code it shares
    // with the rest: V8 then compiles that code twice (the SDK's event streams did that to 130 KB).
    for (const name of Object.keys(built)) {
      const metafile = built[name]?.metafile;
      const lazy = Object.entries(metafile?.inputs ?? {}).flatMap(([file, input]) =>
        input.imports
          .filter((i) => i.kind === 'dynamic-import' && !i.external)
          .map((i) => `${file} -> ${i.path}`),
      );
      expect(lazy, name).toEqual([]);
      // And every package comes in as an ES module, which esbuild can tree-shake.
      const cjs = output(name).inputs.filter(([file]) => metafile?.inputs[file]?.format === 'cjs');
      expect(
        cjs.map(([file]) => file),
        name,
      ).toEqual([]);
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

  it("api: serves GET /openapi.json from the document generated at synth, equal to the generator's, without the generator", async () => {
    const [doc] = (await run('api', [apiEvent({ method: 'GET', path: '/openapi.json' })])) as Array<{
      statusCode: number;
      headers: Record<string, string>;
      body: string;
    }>;
    expect(doc?.statusCode).toBe(200);
    expect(doc?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(doc?.body ?? '')).toEqual(deploymentOpenApi());
    const inputs = output('api').inputs.map(([file]) => file);
    for (const generator of [
      /@valibot\/to-json-schema\//,
      /lambda\/shared\/openapi\.ts$/,
      /openapi-document\.ts$/,
    ])
      expect(
        inputs.filter((file) => generator.test(file)),
        String(generator),
      ).toEqual([]);

    // A bundle with no document beside it says what is missing (and logs it as a 5xx).
    const alone = join(dir, 'alone');
    mkdirSync(alone);
    copyFileSync(join(dir, 'api.mjs'), join(alone, 'api.mjs'));
    const { results, logs } = await runWithOutput('alone/api', [
      apiEvent({ method: 'GET', path: '/openapi.json' }),
    ]);
    const [missing] = results as Array<{ statusCode: number; body: string }>;
    expect(missing?.statusCode).toBe(500);
    expect(logs).toContain(`this bundle has no ${OPENAPI_FILE} beside it`);
  });

  it('loads node:http as a CommonJS built-in, never as an ES module import (on Node 22+ that loads undici)', () => {
    for (const name of Object.keys(built)) {
      const imports = Object.values(built[name]?.metafile.outputs ?? {}).flatMap((o) => o.imports);
      expect(
        imports.filter((i) => i.path === 'node:http' && i.kind === 'import-statement'),
        name,
      ).toEqual([]);
    }
  });

  it('imports no node:process as an ES module (its namespace runs the lazy getters of process)', () => {
    for (const name of Object.keys(built)) {
      const imports = Object.values(built[name]?.metafile.outputs ?? {}).flatMap((o) => o.imports);
      expect(
        imports.filter((i) => i.path === 'node:process' || i.path === 'process'),
        name,
      ).toEqual([]);
      // The SDK does import it: the alias, not its absence, keeps it out.
      const inputs = Object.keys(built[name]?.metafile.inputs ?? {});
      expect(
        inputs.filter((file) => file.endsWith('node-process.ts')),
        name,
      ).toHaveLength(1);
    }
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
