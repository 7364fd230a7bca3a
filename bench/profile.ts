import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Where a cold start's CPU goes, module by module: a V8 CPU profile of a fresh process
 * (`node --cpu-prof`), each sample given to the innermost frame that says who it works for:
 * a function of the bundle (mapped through the bundle's source map to its source file, then to
 * its package or project module), or one of Node's own jobs (parsing the bundle, reading source
 * maps, loading built-in modules, undici). Samples are counted, not timed: a sample taken after
 * the process waited for a core is still one sample.
 */

/** The parts of a `.cpuprofile` read here. */
interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
      readonly columnNumber: number;
    };
    readonly children?: readonly number[];
    readonly positionTicks?: ReadonlyArray<{ readonly line: number; readonly ticks: number }>;
  }>;
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Samples of one profile by module, before and after the handler's module was imported. */
export interface ProfileShares {
  /** Module → samples while the handler's module was being imported. */
  readonly import: Map<string, number>;
  /** Module → samples while the first event was served. */
  readonly firstEvent: Map<string, number>;
}

/** Node's own jobs, by what they are for. */
export const NODE_JOBS = {
  parse: 'V8: read, parse + compile the bundle',
  sourceMaps: 'Node: source maps (--enable-source-maps)',
  builtins: 'Node: built-in modules (http, https, crypto, …)',
  undici: 'Node: fetch (undici)',
  gc: 'V8: garbage collection',
  native: 'V8: native code (lazy compile, runtime)',
  other: 'Node: module loader, I/O callbacks, promises, other',
} as const;

/** The AWS SDK's packages, counted as one module. */
export const SDK_MODULE = 'AWS SDK (@aws-sdk/*, @smithy/*, @aws/*)';

/** The module a source file of the bundle belongs to: its npm package, or the project's module. */
export function moduleOf(source: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1];
  if (pkg) return /^@(aws-sdk|smithy|aws)\//.test(pkg) ? SDK_MODULE : pkg;
  const service = /lambda\/services\/([^/]+)\//.exec(source)?.[1];
  if (service) return `services/${service}`;
  const shared = /lambda\/shared\/([^/]+)\.[tj]s$/.exec(source)?.[1];
  if (shared) return `shared/${shared}`;
  if (/lambda\/handlers\//.test(source) || /empty\.[tj]s$/.test(source)) return 'handler';
  return source.replace(/^(\.\.\/)+/, '');
}

/**
 * Reads one profile of a run of `bundle` and splits its samples by module and phase: samples up
 * to `importedAt` are the import, those up to `servedAt` the first event, later ones are left out
 * (the warm events). Times are `process.hrtime.bigint()` readings of the profiled process, the
 * clock V8's profile timestamps use (CLOCK_MONOTONIC), in ns.
 */
export function profileShares(
  profileFile: string,
  bundle: string,
  window: { readonly startedAt: bigint; readonly importedAt: bigint; readonly servedAt: bigint },
): ProfileShares {
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const lines = readFileSync(bundle, 'utf8').split('\n');
  const map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, 'utf8')));
  const bundleUrl = pathToFileURL(bundle).href;

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // A bundle position → its module. The bundle keeps line breaks in profiled runs, so each
  // top-level statement has a line of its own: the first non-blank column of a line maps it.
  const atPosition = (line: number, column: number): string => {
    const entry = map.findEntry(line, column) as { originalSource?: string };
    return entry.originalSource ? moduleOf(entry.originalSource) : UNMAPPED;
  };
  const atLine = (line: number): string => {
    const text = lines[line] ?? '';
    return atPosition(line, Math.max(0, text.search(/\S/)));
  };

  // Who each profile node works for; `undefined` for idle.
  const owner = new Map<number, string | ((tick: number) => string) | undefined>();
  const ownerOf = (id: number) => {
    if (owner.has(id)) return owner.get(id);
    const leaf = byId.get(id)?.callFrame;
    let who: string | undefined;
    if (leaf?.functionName === '(idle)') who = undefined;
    else if (leaf?.functionName === '(garbage collector)') who = NODE_JOBS.gc;
    else if (leaf?.functionName === '(program)') who = NODE_JOBS.native;
    else who = NODE_JOBS.other;
    for (let at: number | undefined = id; at !== undefined && who === NODE_JOBS.other; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame) break;
      if (frame.url === bundleUrl) {
        // A function's own samples are shared among the lines V8 counted them on (top-level code
        // and lazily initialised modules span many source files); a caller belongs to where it
        // starts.
        const node = byId.get(at);
        if (at === id && node?.positionTicks?.length) {
          owner.set(id, lineSplit(node.positionTicks, atLine));
          return owner.get(id);
        }
        who = atPosition(frame.lineNumber, frame.columnNumber);
        if (who === UNMAPPED) who = atLine(frame.lineNumber + 1);
      } else if (frame.url.includes('/node_modules/')) {
        // A package loaded beside the bundle (the SDK left to the runtime): its own code, and its
        // files' parsing, which runs under the require of the file that loads them.
        who = moduleOf(frame.url);
      } else if (frame.url.includes('undici')) who = NODE_JOBS.undici;
      else if (frame.url.includes('source_map')) who = NODE_JOBS.sourceMaps;
      else if (/^compileFor(Internal|Public)Loader$|^requireBuiltin$/.test(frame.functionName))
        who = NODE_JOBS.builtins;
      else if (
        /^compileSourceTextModule$|^wrapSafe$/.test(frame.functionName) ||
        /esm\/translators/.test(frame.url)
      ) {
        who = NODE_JOBS.parse;
        // Unless a package loaded beside the bundle is what asked for it.
        for (let up = parent.get(at); up !== undefined; up = parent.get(up)) {
          const url = byId.get(up)?.callFrame.url ?? '';
          if (url.includes('/node_modules/')) {
            who = moduleOf(url);
            break;
          }
        }
      }
    }
    owner.set(id, who);
    return who;
  };

  const shares: ProfileShares = { import: new Map(), firstEvent: new Map() };
  const started = window.startedAt / 1000n;
  const imported = window.importedAt / 1000n;
  const served = window.servedAt / 1000n;
  let at = BigInt(Math.round(profile.startTime));
  const seen = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) {
    at += BigInt(Math.round(profile.timeDeltas[i] ?? 0));
    if (at < started || at > served) continue;
    const who = ownerOf(id);
    if (who === undefined) continue;
    const tick = (seen.get(id) ?? 0) + 1;
    seen.set(id, tick);
    const name = typeof who === 'function' ? who(tick) : who;
    const phase = at <= imported ? shares.import : shares.firstEvent;
    phase.set(name, (phase.get(name) ?? 0) + 1);
  }
  return shares;
}

const UNMAPPED = 'bundle (unmapped)';

/**
 * The owner of a function's n-th sample: its position ticks laid end to end, line by line, so
 * the function's samples are shared among its lines' modules as V8 counted them.
 */
function lineSplit(
  ticks: ReadonlyArray<{ readonly line: number; readonly ticks: number }>,
  atLine: (line: number) => string,
): (tick: number) => string {
  const total = ticks.reduce((n, t) => n + t.ticks, 0);
  const owners = ticks.map((t) => ({ upTo: t.ticks, module: atLine(t.line - 1) }));
  return (tick) => {
    let n = ((tick - 1) % total) + 1;
    for (const o of owners) {
      if (n <= o.upTo) return o.module;
      n -= o.upTo;
    }
    return owners.at(-1)?.module ?? UNMAPPED;
  };
}
