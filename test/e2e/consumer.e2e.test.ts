import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * The package as a team uses it in a CDK app of its own (test/fixtures/consumer): `npm pack`, the
 * tarball installed into a fresh directory next to aws-cdk-lib, constructs, cdk-nag and esbuild
 * (served by the npm cache `npm ci` filled: --prefer-offline), its types compiled under node16
 * and bundler resolution, `cdk synth` of its own stack with cdk-nag, and its own handler, bundled
 * by its own NodejsFunction, serving a rate-limited cached read against the package's local kit.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = join(root, 'test', 'fixtures', 'consumer');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

/** The exported subpaths (package.json `exports`, less `./package.json`). */
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>;
};
const SUBPATHS = Object.keys(pkg.exports)
  .filter((key) => key !== './package.json')
  .map((key) => `upstash-serverless-state${key.slice(1)}`);

/** The version this repository's lock installed, so the npm cache serves it. */
const installed = (name: string): string =>
  (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
  );

const run = (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string =>
  execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', ...env },
  });

describe('a CDK app of its own, with the packed package installed', () => {
  const dir = join(inject('scratchRoot'), 'consumer');
  const took: Record<string, number> = {};
  const step = <T>(name: string, fn: () => T): T => {
    const started = performance.now();
    try {
      return fn();
    } finally {
      took[name] = Math.round(performance.now() - started);
    }
  };

  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    cpSync(fixture, dir, { recursive: true });
    // `npm pack` runs prepack: the build.
    const tarball = step('pack', () =>
      run('npm', ['pack', '--silent', '--pack-destination', dir], root).trim().split('\n').at(-1),
    );
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'catalog-service',
        private: true,
        type: 'module',
        dependencies: {
          'upstash-serverless-state': `file:./${tarball}`,
          ...Object.fromEntries(
            [
              'aws-cdk-lib',
              'constructs',
              'cdk-nag',
              'esbuild',
              '@aws-sdk/client-secrets-manager',
              'ioredis',
              '@types/node',
            ].map((name) => [name, installed(name)]),
          ),
        },
      }),
    );
    step('install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], dir));
  }, 240_000);

  it('imports the package only through its exported subpaths', () => {
    const sources = files(dir).filter((f) => f.endsWith('.ts') && !f.includes('node_modules'));
    const specifiers = sources.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => ({
        file,
        spec: m[1] as string,
      })),
    );
    const ours = specifiers.filter(({ spec }) => spec.startsWith('upstash-serverless-state'));

    expect(ours.length).toBeGreaterThan(10);
    expect(ours.filter(({ spec }) => !SUBPATHS.includes(spec))).toEqual([]);
    // Relative imports stay inside the app.
    for (const { file, spec } of specifiers.filter((s) => s.spec.startsWith('.'))) {
      expect(relative(dir, join(file, '..', spec)).startsWith('..')).toBe(false);
    }
    // The bin is installed and runs under plain Node.
    expect(run(join(dir, 'node_modules', '.bin', 'upstash-local'), ['--help'], dir)).toMatch(
      /^Usage: upstash-local /,
    );
    // Anything deeper is refused by the exports map.
    expect(() =>
      run('node', ['-e', "import('upstash-serverless-state/dist/lambda/shared/index.js')"], dir),
    ).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('compiles against the published types with node16 and bundler resolution', () => {
    // skipLibCheck off: a declaration whose import does not resolve fails here.
    step('tsc node16', () => run(bin('tsc'), ['-p', 'tsconfig.json'], dir));
    step('tsc bundler', () => run(bin('tsc'), ['-p', 'tsconfig.bundler.json'], dir));
  }, 120_000);

  it('synthesizes offline with cdk-nag clean, its function wired to its own databases', () => {
    step('cdk synth', () =>
      run(bin('cdk'), ['synth', '--quiet', '--app', 'node build/bin/catalog.js', '--output', 'cdk.out'], dir),
    );
    const report = JSON.parse(readFileSync(join(dir, 'cdk.out', 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: unknown[] }[];
    };
    expect(report.pluginReports.map((p) => [p.pluginName, p.violations])).toEqual([['AwsSolutions', []]]);

    const template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'CatalogService.template.json'), 'utf8'));
    const [fn] = Object.values(
      template.Resources as Record<string, { Type: string; Properties: never }>,
    ).filter((r) => r.Type === 'AWS::Lambda::Function') as {
      Properties: { Environment: { Variables: Record<string, unknown> }; MemorySize: number };
    }[];
    const env = fn?.Properties.Environment.Variables ?? {};
    expect(JSON.parse(env.FEATURE_DATABASES as string)).toEqual({ cache: 'page-cache', rateLimit: 'limits' });
    expect(JSON.stringify(env.UPSTASH_DATABASES)).toMatch(/page-cache.*limits/);
    expect(env.KEY_PREFIX).toBe('catalog');
    expect(fn?.Properties.MemorySize).toBe(512);
    writeFileSync(join(dir, 'template-env.json'), JSON.stringify(env));
  }, 120_000);

  it('serves a rate-limited cached read from its own bundle, against the local kit', () => {
    const assets = readdirSync(join(dir, 'cdk.out')).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    const bundle = join(dir, 'cdk.out', assets[0] as string, 'index.mjs');

    const out = step('serve locally', () =>
      run('node', ['build/test/serve-locally.js', bundle, 'template-env.json'], dir, {
        // The handler process starts cold, as Lambda would.
        UPSTASH_DISABLE_TELEMETRY: '1',
      }),
    );
    const { answers, fetches, databases } = JSON.parse(out.trim().split('\n').at(-1) as string) as {
      answers: { statusCode: number; body: string }[];
      fetches: Record<string, number>;
      databases: string[];
    };
    const bodies = answers.map((a) => JSON.parse(a.body));

    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 429]);
    expect(bodies[0]).toEqual({ results: ['boots-1', 'boots-2'], cached: false, remaining: 1 });
    expect(bodies[1]).toEqual({ results: ['boots-1', 'boots-2'], cached: true, remaining: 0 });
    // Refused by the limiter's in-container cache of blocked identifiers: the limit is used up.
    expect(bodies[2]).toEqual({ reason: 'blocked-cache', remaining: 0 });
    // Each database's secret read once for the three invocations (one cold start).
    expect(databases).toEqual(['page-cache', 'limits']);
    expect(fetches).toEqual({ 'page-cache': 1, limits: 1 });
    console.log(`consumer test steps (ms): ${JSON.stringify(took)}`);
  }, 120_000);
});
