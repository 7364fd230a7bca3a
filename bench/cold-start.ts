import { spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { build } from 'esbuild';
import { UpstashFunction } from '../lib/constructs/upstash-function';
import { esbuildOptions } from '../lib/esbuild-options';
import { handlerEntry } from '../lib/runtime';
import type { LocalApp } from '../local/app';
import { apiEventFor, authorizerEventFor, schedulerEventFor } from './events';
import { median, round } from './lib';
import { moduleOf, profileShares } from './profile';

/**
 * Cold starts of the bundled functions, each next to an empty handler bundled and started the
 * same way in the same run: CPU time to the first event served (the figure the goals are set
 * on), where it goes module by module (V8 CPU profiles of more fresh processes), and the
 * Secrets Manager client bundled against left to the runtime.
 */

/** One bundle's weight and start. */
export interface ColdStartRow {
  readonly function: string;
  /** The .mjs Lambda loads (the source map beside it is counted apart). */
  readonly bytes: number;
  readonly mapBytes: number;
  /** Median ms from process start to the handler module imported. */
  readonly importMs: number;
  /** Median ms from process start to the first event served (secrets fetched, clients built). */
  readonly firstEventMs: number;
  /** Median over the runs of firstEventMs over the empty handler's in the same run. */
  readonly ratio: number;
  /** Median CPU time (user + system) Node used before the runner started importing. */
  readonly cpuStartMs: number;
  /** Median CPU time of importing the handler's module (parse, evaluation). */
  readonly cpuImportMs: number;
  /** Median CPU time of serving the first event (secrets, clients, the request). */
  readonly cpuFirstEventMs: number;
  /** Median CPU time (user + system) the process used up to the first event served. */
  readonly cpuMs: number;
  /**
   * Median over the runs of cpuMs over the empty handler's: steadier than the wall-clock ratio on
   * a busy machine, since waiting for a core is not counted.
   */
  readonly cpuRatio: number;
  /** Secrets Manager fetches while serving the first event (cold start). */
  readonly secretFetchesCold: number;
  /** Secrets Manager fetches while serving the next 10 events in the same process (warm). */
  readonly secretFetchesWarm: number;
  /** What the first event returned, checked (a failing handler would start fast and prove nothing). */
  readonly firstResult: string;
}

/** What one module costs a function's cold start (medians over the profiled runs). */
export interface BreakdownRow {
  readonly module: string;
  /** Bytes of the deployed bundle that come from this module (esbuild metafile). */
  readonly bytes: number;
  readonly importMs: number;
  readonly firstEventMs: number;
}

/** One function's cold start, module by module. */
export interface FunctionBreakdown {
  readonly function: string;
  /** CPU before the runner started importing: Node itself, the same for every function. */
  readonly startMs: number;
  readonly rows: readonly BreakdownRow[];
  /** Profiled runs, and samples per run (median). */
  readonly runs: number;
  readonly samples: number;
}

/** A function bundled one way or the other: the Secrets Manager client's packaging. */
export interface SdkPackagingRow {
  readonly function: string;
  readonly packaging: 'bundled' | 'runtime';
  readonly bytes: number;
  readonly cpuMs: number;
  readonly cpuRatio: number;
}

export interface ColdStartResults {
  readonly coldStart: ColdStartRow[];
  readonly breakdown: FunctionBreakdown[];
  readonly sdkPackaging: SdkPackagingRow[];
  /** Fresh processes per function, interleaved; profiled runs apart. */
  readonly runs: number;
}

/** The functions of the stack, as their constructs bundle them (every bench database is REST). */
export const FUNCTIONS = ['api', 'authorizer', 'queue-worker', 'maintenance', 'usage-probe'] as const;
const WARM_EVENTS = 10;
/** Fresh processes per function: medians of many, interleaved, on a machine others use too. */
const COLD_RUNS = 15;
/** Profiled fresh processes per function, for the breakdown. */
const PROFILE_RUNS = 7;
/** The runtime-packaged variant of this function is timed beside the bundled one. */
const SDK_VARIANT_OF = 'authorizer';
const RUNTIME_SDK = `${SDK_VARIANT_OF} (SDK from the runtime)`;

// Serves the first event, says so and waits for the go-ahead (the bench reads the secret fetches
// of the cold start meanwhile), then serves the warm events. CPU and clock readings at the start,
// after the import and after the first event.
const RUNNER = `import { readFileSync } from 'node:fs';
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const startedAt = process.hrtime.bigint();
const startCpu = cpu();
const mod = await import(process.argv[2]);
const importCpu = cpu();
const importedAt = process.hrtime.bigint();
const imported = performance.now();
const events = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const context = { functionName: 'bench', awsRequestId: 'r', getRemainingTimeInMillis: () => 10000 };
const result = await mod.handler(events[0], context);
const servedCpu = cpu();
const servedAt = process.hrtime.bigint();
const first = performance.now();
process.stdout.write('\\n@@COLD\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
for (const event of events.slice(1)) await mod.handler(event, context);
const at = { startedAt: String(startedAt), importedAt: String(importedAt), servedAt: String(servedAt) };
process.stdout.write('\\n@@' + JSON.stringify({ imported, first, startCpu, importCpu, cpu: servedCpu, at, result: result ?? null }) + '\\n');
process.exit(0);
`;

interface Run {
  imported: number;
  first: number;
  startCpu: number;
  importCpu: number;
  cpu: number;
  at: { startedAt: string; importedAt: string; servedAt: string };
  result: unknown;
  cold: number;
  warm: number;
}

interface Variant {
  readonly name: string;
  readonly entry: string;
  readonly bundling: BundlingOptions;
  /** Where it runs: no node_modules, or the runtime's @aws-sdk beside it. */
  readonly dir: string;
  readonly event: unknown;
}

/**
 * Measures every function's cold start against the empty handler's, in fresh processes.
 *
 * @param keepProfiles a directory to copy each function's first profile into, with its profiled
 *   bundle and source map (open the `.cpuprofile` in Chrome DevTools); by default none is kept
 */
export async function measureColdStarts(
  stack: LocalApp,
  log: (m: string) => void,
  keepProfiles?: string,
): Promise<ColdStartResults> {
  const root = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    return await measure(stack, root, log, keepProfiles);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function measure(
  stack: LocalApp,
  root: string,
  log: (m: string) => void,
  keepProfiles: string | undefined,
): Promise<ColdStartResults> {
  // Bundled functions run where nothing but the bundle resolves (the SDK is inside); the
  // runtime-packaged one next to the SDK, as the Lambda runtime provides it.
  const bundled = join(root, 'bundled');
  const runtimeSdk = join(root, 'runtime-sdk');
  for (const dir of [bundled, runtimeSdk]) mkdirSync(dir);
  mkdirSync(join(runtimeSdk, 'node_modules'));
  symlinkSync(join(process.cwd(), 'node_modules', '@aws-sdk'), join(runtimeSdk, 'node_modules', '@aws-sdk'));
  writeFileSync(join(root, 'runner.mjs'), RUNNER);
  writeFileSync(
    join(root, 'empty.ts'),
    'export const handler = async () => ({ statusCode: 200, body: "{}" });\n',
  );

  const rest = UpstashFunction.bundling();
  const eventFor = (name: string): unknown =>
    name === 'api'
      ? apiEventFor('GET', '/cache/hot', stack.tenant)
      : name === 'authorizer'
        ? authorizerEventFor(stack.apiKey)
        : name === 'empty'
          ? {}
          : schedulerEventFor(name);
  const variants: Variant[] = [
    { name: 'empty', entry: join(root, 'empty.ts'), bundling: rest, dir: bundled, event: {} },
    ...FUNCTIONS.map((name) => ({
      name,
      entry: handlerEntry(name),
      bundling: rest,
      dir: bundled,
      event: eventFor(name),
    })),
    // Issue 16's evaluation: Idempotency-Key records, ours and Powertools', with the same client.
    ...(['idempotency-ours', 'idempotency-powertools'] as const).map((name) => ({
      name,
      entry: join(process.cwd(), 'bench', `cold-${name}.ts`),
      bundling: rest,
      dir: bundled,
      event: { key: `cold-${name}` },
    })),
    {
      name: RUNTIME_SDK,
      entry: handlerEntry(SDK_VARIANT_OF),
      bundling: UpstashFunction.bundling({ externalModules: ['@aws-sdk/*'] }),
      dir: runtimeSdk,
      event: eventFor(SDK_VARIANT_OF),
    },
  ];

  const file = (v: Variant, suffix = '') => join(v.dir, `${v.name.replace(/\W+/g, '-')}${suffix}.mjs`);
  const bytes: Record<string, { js: number; map: number; modules: Map<string, number> }> = {};
  for (const v of variants) {
    writeFileSync(
      `${file(v)}.events.json`,
      JSON.stringify(Array.from({ length: 1 + WARM_EVENTS }, () => v.event)),
    );
    const result = await build({
      ...esbuildOptions(v.bundling, v.entry, file(v)),
      logLevel: 'silent',
      metafile: true,
    });
    const outputs = Object.entries(result.metafile.outputs);
    const js = outputs.find(([f]) => f.endsWith('.mjs'));
    const modules = new Map<string, number>();
    for (const [source, { bytesInOutput }] of Object.entries(js?.[1].inputs ?? {})) {
      const module = moduleOf(source);
      modules.set(module, (modules.get(module) ?? 0) + bytesInOutput);
    }
    bytes[v.name] = {
      js: js?.[1].bytes ?? 0,
      map: outputs.find(([f]) => f.endsWith('.map'))?.[1].bytes ?? 0,
      modules,
    };
    // The profiled twin keeps line breaks, so each top-level statement maps to its module.
    await build({
      ...esbuildOptions(v.bundling, v.entry, file(v, '.profiled')),
      minify: false,
      minifyIdentifiers: true,
      minifySyntax: true,
      logLevel: 'silent',
    });
  }

  const runOnce = (v: Variant, profileDir?: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const bundle = profileDir ? file(v, '.profiled') : file(v);
      const profile = profileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=50']
        : [];
      const child = spawn(
        process.execPath,
        [...profile, join(root, 'runner.mjs'), bundle, `${file(v)}.events.json`],
        {
          cwd: v.dir,
          env: {
            PATH: process.env.PATH ?? '',
            ...stack.env,
            // As the construct sets it: source maps are read at load time, part of the cold start.
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_LOG_LEVEL: 'SILENT',
            POWERTOOLS_METRICS_DISABLED: 'true',
          },
        },
      );
      stack.secrets.resetCounts();
      let cold = -1;
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (cold === -1 && out.includes('@@COLD')) {
          cold = stack.secrets.totalFetches;
          stack.secrets.resetCounts();
          child.stdin.end('go\n');
        }
      });
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('close', (code) => {
        const at = out.lastIndexOf('@@{');
        if (at === -1 || cold === -1) reject(new Error(`${v.name} exited ${code}: ${err.slice(0, 500)}`));
        else resolve({ ...JSON.parse(out.slice(at + 2)), cold, warm: stack.secrets.totalFetches });
      });
    });

  const runs = new Map<string, Run[]>();
  log(`cold start: ${variants.length} bundles × ${COLD_RUNS} fresh processes, interleaved`);
  for (let round = 0; round < COLD_RUNS; round++) {
    // Interleaved, so a slow moment of the machine hits every function alike.
    for (const v of variants) runs.set(v.name, [...(runs.get(v.name) ?? []), await runOnce(v)]);
  }
  const empty = runs.get('empty') ?? [];
  const perRun = (list: Run[], of: (r: Run) => number) => round(median(list.map(of)), 1);
  const cpuRatio = (list: Run[]) =>
    round(median(list.map((r, i) => r.cpu / (empty[i]?.cpu ?? Number.NaN))), 2);

  const coldStart: ColdStartRow[] = variants
    .filter((v) => v.name !== RUNTIME_SDK)
    .map((v) => {
      const list = runs.get(v.name) ?? [];
      return {
        function: v.name,
        bytes: bytes[v.name]?.js ?? 0,
        mapBytes: bytes[v.name]?.map ?? 0,
        importMs: perRun(list, (r) => r.imported),
        firstEventMs: perRun(list, (r) => r.first),
        ratio: round(median(list.map((r, i) => r.first / (empty[i]?.first ?? Number.NaN))), 2),
        cpuStartMs: perRun(list, (r) => r.startCpu),
        cpuImportMs: perRun(list, (r) => r.importCpu - r.startCpu),
        cpuFirstEventMs: perRun(list, (r) => r.cpu - r.importCpu),
        cpuMs: perRun(list, (r) => r.cpu),
        cpuRatio: cpuRatio(list),
        secretFetchesCold: median(list.map((r) => r.cold)),
        secretFetchesWarm: median(list.map((r) => r.warm)),
        firstResult: verdict(v.name, list[0]?.result),
      };
    });

  const sdkPackaging: SdkPackagingRow[] = [SDK_VARIANT_OF, RUNTIME_SDK].map((name) => {
    const list = runs.get(name) ?? [];
    verdict(SDK_VARIANT_OF, list[0]?.result);
    return {
      function: SDK_VARIANT_OF,
      packaging: name === RUNTIME_SDK ? 'runtime' : 'bundled',
      bytes: bytes[name]?.js ?? 0,
      cpuMs: perRun(list, (r) => r.cpu),
      cpuRatio: cpuRatio(list),
    };
  });

  log(`cold start: where the CPU goes, ${PROFILE_RUNS} profiled fresh processes per function`);
  const profiled = variants.filter((v) => v.name !== RUNTIME_SDK);
  const shares = new Map<string, Array<{ import: Map<string, number>; firstEvent: Map<string, number> }>>();
  for (let round = 0; round < PROFILE_RUNS; round++) {
    for (const v of profiled) {
      const dir = join(root, `profile-${round}-${v.name}`);
      const run = await runOnce(v, dir);
      const [profileFile] = readdirSync(dir);
      if (!profileFile) throw new Error(`no CPU profile was written for ${v.name}`);
      const share = profileShares(join(dir, profileFile), file(v, '.profiled'), {
        startedAt: BigInt(run.at.startedAt),
        importedAt: BigInt(run.at.importedAt),
        servedAt: BigInt(run.at.servedAt),
      });
      shares.set(v.name, [...(shares.get(v.name) ?? []), share]);
      if (keepProfiles && round === 0) {
        const kept = join(keepProfiles, v.name.replace(/\W+/g, '-'));
        mkdirSync(kept, { recursive: true });
        copyFileSync(join(dir, profileFile), join(kept, 'cold-start.cpuprofile'));
        copyFileSync(file(v, '.profiled'), join(kept, 'bundle.mjs'));
        copyFileSync(`${file(v, '.profiled')}.map`, join(kept, 'bundle.mjs.map'));
        writeFileSync(join(kept, 'phases.json'), JSON.stringify(run.at));
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const breakdown = profiled.map((v) =>
    breakdownOf(v.name, runs.get(v.name) ?? [], shares.get(v.name) ?? [], bytes[v.name]?.modules),
  );
  return { coldStart, breakdown, sdkPackaging, runs: COLD_RUNS };
}

/**
 * A function's modules from its profiles: each profiled run's samples scaled so that they add up
 * to the CPU the unprofiled runs measured after Node's start (the profiler's own cost left out),
 * then the median per module and phase.
 */
function breakdownOf(
  name: string,
  runs: Run[],
  shares: Array<{ import: Map<string, number>; firstEvent: Map<string, number> }>,
  bytes: Map<string, number> = new Map(),
): FunctionBreakdown {
  const measured = median(runs.map((r) => r.cpu - r.startCpu));
  const modules = new Set(shares.flatMap((s) => [...s.import.keys(), ...s.firstEvent.keys()]));
  const totals = shares.map((s) =>
    [...s.import.values(), ...s.firstEvent.values()].reduce((a, b) => a + b, 0),
  );
  const scaled = (phase: 'import' | 'firstEvent', module: string) =>
    round(median(shares.map((s, i) => ((s[phase].get(module) ?? 0) * measured) / (totals[i] || 1))), 2);
  const rows = [...modules]
    .map((module) => ({
      module,
      bytes: bytes.get(module) ?? 0,
      importMs: scaled('import', module),
      firstEventMs: scaled('firstEvent', module),
    }))
    .sort((a, b) => b.importMs + b.firstEventMs - (a.importMs + a.firstEventMs));
  return {
    function: name,
    startMs: round(median(runs.map((r) => r.startCpu)), 1),
    rows,
    runs: shares.length,
    samples: Math.round(median(totals)),
  };
}

/** The first event's result in a line, or an error when it is not a success. */
function verdict(name: string, result: unknown): string {
  const r = (result ?? {}) as { statusCode?: number; isAuthorized?: boolean };
  if (name === 'api' || name === 'empty' || name.startsWith('idempotency-')) {
    if (r.statusCode !== 200) throw new Error(`${name} answered ${JSON.stringify(result).slice(0, 300)}`);
    return `statusCode ${r.statusCode}`;
  }
  if (name === 'authorizer') {
    if (r.isAuthorized !== true) throw new Error(`authorizer answered ${JSON.stringify(result)}`);
    return 'isAuthorized true';
  }
  if (Array.isArray(result)) return `returned ${result.length} database(s)`;
  return `returned ${result && typeof result === 'object' ? `{ ${Object.keys(result).slice(0, 3).join(', ')}, … }` : String(result)}`;
}
