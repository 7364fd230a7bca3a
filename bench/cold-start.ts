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
import { SOURCE_MAPS_OPTION, UpstashFunction } from '../lib/constructs/upstash-function';
import { esbuildOptions } from '../lib/esbuild-options';
import { handlerEntry } from '../lib/runtime';
import type { LocalApp } from '../local/app';
import { apiEventFor, authorizerEventFor, schedulerEventFor } from './events';
import { median, round } from './lib';
import type { NodeBinary } from './node-binary';
import { moduleOf, profileShares, SDK_MODULE } from './profile';

/**
 * Cold starts of the bundled functions, each next to an empty handler bundled and started the
 * same way in the same run: CPU time to the first event served (the figure the goals are set
 * on), where it goes module by module (V8 CPU profiles of more fresh processes), and the
 * Secrets Manager client bundled against left to the runtime; optionally the same rounds on a
 * second Node (`--node24`, what Lambda runs), and the cost of reading source maps.
 */

/** One bundle's weight and start. */
export interface ColdStartRow {
  readonly function: string;
  /** The .mjs Lambda loads (the source map beside it is counted apart). */
  readonly bytes: number;
  /** Of `bytes`, the AWS SDK's (the Secrets Manager client): esbuild metafile. */
  readonly sdkBytes?: number;
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
  /** The same rounds on the second Node (`--node24`). */
  readonly otherNode?: OtherNodeRow;
}

/** A function's cold start on the second Node, in the same rounds. */
export interface OtherNodeRow {
  /** Median CPU time to the first event served. */
  readonly cpuMs: number;
  /** Median over the runs of cpuMs over that Node's empty handler's. */
  readonly cpuRatio: number;
  /**
   * The same, less {@link HttpArtifact} of each round: what Lambda's Node pays, where the
   * Secrets Manager endpoint is https.
   */
  readonly cpuRatioLessHttp: number;
}

/**
 * What the bench's plain-HTTP Secrets Manager endpoint costs a function on one Node: the SDK
 * imports `node:http` (as an ES module) only for a plain-HTTP endpoint, never for AWS's https
 * one, and on Node 22 and later that import loads undici. Measured in the same rounds as the
 * difference between two controls: an empty handler importing `node:https`, and the same plus
 * `await import('node:http')` on its event.
 */
export interface HttpArtifact {
  readonly node: string;
  /** Median per round of the difference in CPU to the first event. */
  readonly ms: number;
}

/** What reading source maps (`enableSourceMaps`) costs the api function on one Node. */
export interface SourceMapCost {
  readonly node: string;
  /** Median per round of the api's CPU to its first event with the map read, less without. */
  readonly loadMs: number;
  /** Median CPU of a failing invocation after the warm ones, its stack trace read: with the map. */
  readonly failingWithMapMs: number;
  /** The same without the map. */
  readonly failingWithoutMapMs: number;
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
  /** `process.version` of the second Node, when it ran (`--node24`). */
  readonly otherNode?: string;
  /** Per Node: this one, then the second. */
  readonly httpArtifact?: HttpArtifact[];
  readonly sourceMaps?: SourceMapCost[];
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
// With BENCH_FAILING set, it then serves an event the handler fails on (undefined) and reads the
// error's stack trace, as a logged 5xx would: CPU of that invocation.
// Before it imports the handler, Lambda's runtime interface client (aws-lambda-nodejs-runtime-
// interface-client: RAPIDClient requires node:http for the Runtime API, its response stream
// node:net) has loaded those built-ins, so every function, the empty one too, starts with them
// loaded: the runner loads them before its start reading, as part of the runtime's start.
const RUNNER = `import 'node:http';
import 'node:net';
import { readFileSync } from 'node:fs';
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
let failing = null;
if (process.env.BENCH_FAILING) {
  const before = cpu();
  try { await mod.handler(undefined, context); } catch (error) { String(error?.stack); failing = cpu() - before; }
}
const at = { startedAt: String(startedAt), importedAt: String(importedAt), servedAt: String(servedAt) };
process.stdout.write('\\n@@' + JSON.stringify({ imported, first, startCpu, importCpu, cpu: servedCpu, at, failing, result: result ?? null }) + '\\n');
process.exit(0);
`;

interface Run {
  imported: number;
  first: number;
  startCpu: number;
  importCpu: number;
  cpu: number;
  at: { startedAt: string; importedAt: string; servedAt: string };
  failing: number | null;
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
  /** Environment besides the function's (the Lambda runtime's, the stack's). */
  readonly env?: Readonly<Record<string, string>>;
  /** A variant of a function measured for a figure of its own, not a row of the tables. */
  readonly extra?: boolean;
}

/** Options of {@link measureColdStarts}. */
export interface ColdStartOptions {
  /**
   * A directory to copy each function's first profile into, with its profiled bundle and source
   * map (open the `.cpuprofile` in Chrome DevTools).
   * @default - none kept
   */
  readonly keepProfiles?: string;
  /** A second Node to run the same rounds with (`--node24`). @default - this Node only */
  readonly otherNode?: NodeBinary;
}

/**
 * Measures every function's cold start against the empty handler's, in fresh processes.
 */
export async function measureColdStarts(
  stack: LocalApp,
  log: (m: string) => void,
  options: ColdStartOptions = {},
): Promise<ColdStartResults> {
  const root = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    return await measure(stack, root, log, options);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The environment of every run, as Lambda sets it where it matters to a cold start. */
const LAMBDA_ENV = {
  // The runtime API's address (never called here): it tells the runtime it serves one invocation
  // at a time (lambda/shared/lambda-env.ts), as in Lambda.
  AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
  // Logs and metrics as UpstashFunction deploys them (JSON at INFO, EMF on): the first event's
  // log line and metrics flush are part of what it costs. The runner ignores what they print.
  AWS_LAMBDA_LOG_FORMAT: 'JSON',
  AWS_LAMBDA_LOG_LEVEL: 'INFO',
  POWERTOOLS_SERVICE_NAME: 'bench',
  POWERTOOLS_METRICS_NAMESPACE: 'UpstashBench',
  // The SDK warns once per process that its 2027 releases need Node 22: a cost of running on
  // Node 20 (2.5 ms measured), which Lambda's Node 24 never pays. Off for every function alike.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
/** The api, as `enableSourceMaps: true` starts it: the reading of its source map measured. */
const API_WITH_MAPS = 'api (enableSourceMaps)';
/** The two controls of {@link HttpArtifact}. */
const HTTPS_CONTROL = 'control: node:https';
const HTTP_CONTROL = 'control: node:https, then node:http';

async function measure(
  stack: LocalApp,
  root: string,
  log: (m: string) => void,
  { keepProfiles, otherNode }: ColdStartOptions,
): Promise<ColdStartResults> {
  // Bundled functions run where nothing but the bundle resolves (the SDK is inside); the
  // runtime-packaged one next to the SDK, as the Lambda runtime provides it.
  const bundled = join(root, 'bundled');
  const runtimeSdk = join(root, 'runtime-sdk');
  for (const dir of [bundled, runtimeSdk]) mkdirSync(dir);
  mkdirSync(join(runtimeSdk, 'node_modules'));
  symlinkSync(join(process.cwd(), 'node_modules', '@aws-sdk'), join(runtimeSdk, 'node_modules', '@aws-sdk'));
  writeFileSync(join(root, 'runner.mjs'), RUNNER);
  const source = (name: string, code: string) => {
    writeFileSync(join(root, name), code);
    return join(root, name);
  };
  const empty = source('empty.ts', 'export const handler = async () => ({ statusCode: 200, body: "{}" });\n');
  const httpsControl = source(
    'https-control.ts',
    "import https from 'node:https';\nexport const handler = async () => ({ statusCode: 200, body: typeof https.request });\n",
  );
  const httpControl = source(
    'http-control.ts',
    "import https from 'node:https';\nexport const handler = async () => {\n  const http = await import('node:http');\n  return { statusCode: 200, body: typeof https.request + typeof http.request };\n};\n",
  );

  const rest = UpstashFunction.bundling();
  const eventFor = (name: string): unknown =>
    name === 'api'
      ? apiEventFor('GET', '/cache/hot', stack.tenant)
      : name === 'authorizer'
        ? authorizerEventFor(stack.apiKey)
        : schedulerEventFor(name);
  const variants: Variant[] = [
    { name: 'empty', entry: empty, bundling: rest, dir: bundled, event: {} },
    ...FUNCTIONS.map((name) => ({
      name,
      entry: handlerEntry(name),
      bundling: rest,
      dir: bundled,
      event: eventFor(name),
      ...(name === 'api' ? { env: { BENCH_FAILING: '1' } } : {}),
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
      extra: true,
    },
    {
      name: API_WITH_MAPS,
      entry: handlerEntry('api'),
      bundling: rest,
      dir: bundled,
      event: eventFor('api'),
      env: { NODE_OPTIONS: SOURCE_MAPS_OPTION, BENCH_FAILING: '1' },
      extra: true,
    },
    { name: HTTPS_CONTROL, entry: httpsControl, bundling: rest, dir: bundled, event: {}, extra: true },
    { name: HTTP_CONTROL, entry: httpControl, bundling: rest, dir: bundled, event: {}, extra: true },
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
    for (const [input, { bytesInOutput }] of Object.entries(js?.[1].inputs ?? {})) {
      const module = moduleOf(input);
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

  const runOnce = (v: Variant, node = process.execPath, profileDir?: string): Promise<Run> =>
    new Promise((resolve, reject) => {
      const bundle = profileDir ? file(v, '.profiled') : file(v);
      const profile = profileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=50']
        : [];
      const child = spawn(node, [...profile, join(root, 'runner.mjs'), bundle, `${file(v)}.events.json`], {
        cwd: v.dir,
        // As UpstashFunction deploys it (no NODE_OPTIONS unless enableSourceMaps).
        env: { PATH: process.env.PATH ?? '', ...stack.env, ...LAMBDA_ENV, ...v.env },
      });
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
  const otherRuns = new Map<string, Run[]>();
  const nodes = otherNode ? `, on ${process.version} and ${otherNode.version}` : '';
  log(`cold start: ${variants.length} bundles × ${COLD_RUNS} fresh processes${nodes}, interleaved`);
  for (let round = 0; round < COLD_RUNS; round++) {
    // Interleaved, so a slow moment of the machine hits every function alike.
    for (const v of variants) {
      runs.set(v.name, [...(runs.get(v.name) ?? []), await runOnce(v)]);
      if (otherNode)
        otherRuns.set(v.name, [...(otherRuns.get(v.name) ?? []), await runOnce(v, otherNode.path)]);
    }
  }
  const emptyRuns = runs.get('empty') ?? [];
  const perRun = (list: Run[], of: (r: Run) => number) => round(median(list.map(of)), 1);
  const ratioTo = (reference: Run[]) => (list: Run[]) =>
    round(median(list.map((r, i) => r.cpu / (reference[i]?.cpu ?? Number.NaN))), 2);
  const cpuRatio = ratioTo(emptyRuns);
  /** Median per round of `a`'s CPU less `b`'s. */
  const difference = (a: Run[] = [], b: Run[] = []) =>
    round(median(a.map((r, i) => r.cpu - (b[i]?.cpu ?? Number.NaN))), 1);
  const otherEmpty = otherRuns.get('empty') ?? [];
  const otherArtifact = (otherRuns.get(HTTP_CONTROL) ?? []).map(
    (r, i) => r.cpu - (otherRuns.get(HTTPS_CONTROL)?.[i]?.cpu ?? Number.NaN),
  );

  const coldStart: ColdStartRow[] = variants
    .filter((v) => !v.extra)
    .map((v) => {
      const list = runs.get(v.name) ?? [];
      const other = otherRuns.get(v.name);
      if (other) verdict(v.name, other[0]?.result);
      return {
        function: v.name,
        bytes: bytes[v.name]?.js ?? 0,
        sdkBytes: bytes[v.name]?.modules.get(SDK_MODULE) ?? 0,
        mapBytes: bytes[v.name]?.map ?? 0,
        importMs: perRun(list, (r) => r.imported),
        firstEventMs: perRun(list, (r) => r.first),
        ratio: round(median(list.map((r, i) => r.first / (emptyRuns[i]?.first ?? Number.NaN))), 2),
        cpuStartMs: perRun(list, (r) => r.startCpu),
        cpuImportMs: perRun(list, (r) => r.importCpu - r.startCpu),
        cpuFirstEventMs: perRun(list, (r) => r.cpu - r.importCpu),
        cpuMs: perRun(list, (r) => r.cpu),
        cpuRatio: cpuRatio(list),
        secretFetchesCold: median(list.map((r) => r.cold)),
        secretFetchesWarm: median(list.map((r) => r.warm)),
        firstResult: verdict(v.name, list[0]?.result),
        ...(other
          ? {
              otherNode: {
                cpuMs: perRun(other, (r) => r.cpu),
                cpuRatio: ratioTo(otherEmpty)(other),
                // The empty handler and the controls make no Secrets Manager request.
                cpuRatioLessHttp: round(
                  median(
                    other.map(
                      (r, i) =>
                        (r.cpu - (v.name === 'empty' ? 0 : (otherArtifact[i] ?? Number.NaN))) /
                        (otherEmpty[i]?.cpu ?? Number.NaN),
                    ),
                  ),
                  2,
                ),
              },
            }
          : {}),
      };
    });
  for (const v of variants.filter((x) => x.extra && x.name !== RUNTIME_SDK)) {
    for (const of of [runs, otherRuns])
      if (of.has(v.name)) verdict(v.name.startsWith('api') ? 'api' : 'empty', of.get(v.name)?.[0]?.result);
  }

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

  const perNode = [
    { node: process.version, of: runs },
    ...(otherNode ? [{ node: otherNode.version, of: otherRuns }] : []),
  ];
  const failing = (list: Run[] = []) =>
    round(median(list.map((r) => r.failing).filter((ms): ms is number => ms !== null)), 1);
  const httpArtifact = perNode.map(({ node, of }) => ({
    node,
    ms: difference(of.get(HTTP_CONTROL), of.get(HTTPS_CONTROL)),
  }));
  const sourceMaps = perNode.map(({ node, of }) => ({
    node,
    loadMs: difference(of.get(API_WITH_MAPS), of.get('api')),
    failingWithMapMs: failing(of.get(API_WITH_MAPS)),
    failingWithoutMapMs: failing(of.get('api')),
  }));

  log(`cold start: where the CPU goes, ${PROFILE_RUNS} profiled fresh processes per function`);
  const profiled = variants.filter((v) => !v.extra);
  const shares = new Map<string, Array<{ import: Map<string, number>; firstEvent: Map<string, number> }>>();
  for (let round = 0; round < PROFILE_RUNS; round++) {
    for (const v of profiled) {
      const dir = join(root, `profile-${round}-${v.name}`);
      const run = await runOnce(v, process.execPath, dir);
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
  return {
    coldStart,
    breakdown,
    sdkPackaging,
    runs: COLD_RUNS,
    ...(otherNode ? { otherNode: otherNode.version } : {}),
    httpArtifact,
    sourceMaps,
  };
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
