import type {
  ColdStartRow,
  FunctionBreakdown,
  HttpArtifact,
  SdkPackagingRow,
  SourceMapCost,
} from './cold-start';
import { round } from './lib';
import { NODE_JOBS } from './profile';

/** The cold-start part of a bench run. */
export interface ColdStartReport {
  readonly coldStart: readonly ColdStartRow[];
  readonly breakdown?: readonly FunctionBreakdown[];
  readonly sdkPackaging?: readonly SdkPackagingRow[];
  readonly runs?: number;
  /** `process.version` of the second Node (`--node24`), whose figures are in `otherNode` of each row. */
  readonly otherNode?: string;
  readonly httpArtifact?: readonly HttpArtifact[];
  readonly sourceMaps?: readonly SourceMapCost[];
}

/**
 * CPU time to the first event served, over an empty handler's (docs/bench.md): the goals. The
 * usage probe has none; it is reported.
 */
export const COLD_START_GOALS: Readonly<Record<string, number>> = {
  api: 3,
  authorizer: 2,
  'queue-worker': 3,
  maintenance: 3,
};

const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;
const ms = (value: number) => `${round(value, 1)} ms`;
const total = (row: { importMs: number; firstEventMs: number }) => row.importMs + row.firstEventMs;

/** Cold starts that miss their goal, each with what the breakdown says about it. */
export function coldStartGaps(r: ColdStartReport): string[] {
  const out: string[] = [];
  const empty = r.coldStart.find((row) => row.function === 'empty');
  for (const row of r.coldStart) {
    const goal = COLD_START_GOALS[row.function];
    if (goal === undefined || row.cpuRatio <= goal) continue;
    const parts = r.breakdown?.find((b) => b.function === row.function);
    const sdk = parts?.rows.find((m) => m.module.startsWith('AWS SDK'));
    const parse = parts?.rows.find((m) => m.module === NODE_JOBS.parse);
    const parseShare = sdk && parse && row.bytes > 0 ? (total(parse) * sdk.bytes) / row.bytes : 0;
    const floor =
      sdk && empty
        ? ` The Secrets Manager client, which every function runs to read its first secret, costs ${ms(total(sdk))} of its own code and about ${ms(parseShare)} more to parse (its ${kb(sdk.bytes)} of the bundle's ${kb(row.bytes)}, at the bundle's parse time per byte): ${round((total(sdk) + parseShare) / empty.cpuMs, 2)}× the empty handler's whole cold start, before loading Node's https and crypto for it. The function's own share is the rest of the breakdown above.`
        : '';
    const other = row.otherNode
      ? ` On ${r.otherNode} (Lambda's major): ${row.otherNode.cpuRatioLessHttp}× less the bench's plain-HTTP artifact (${row.otherNode.cpuRatio}× as measured).`
      : '';
    out.push(
      `cold start of ${row.function}: CPU ${row.cpuRatio}× the empty handler's (${ms(row.cpuMs)} against ${ms(empty?.cpuMs ?? 0)}), goal ${goal}×.${other}${floor}`,
    );
  }
  return out;
}

/** The cold-start tables of RESULTS.md (and of `npm run bench -- --cold-start`). */
export function coldStartMarkdown(r: ColdStartReport): string[] {
  const lines: string[] = ['## Cold start of the bundles', ''];
  lines.push(
    `Each function bundled as \`UpstashFunction\` bundles it (lib/constructs/upstash-function.ts: ESM, \`module\` first, the require banner, minified, external source map without sources, Node 24 target, the Secrets Manager client bundled, undici replaced by \`node:https\` for the Upstash clients, TCP and migration code dropped from REST-only functions, the api's OpenAPI document shipped beside it instead of its generator), built through the same esbuild options (lib/esbuild-options.ts), and run in a fresh Node process outside the tree with nothing to resolve but the bundle, started as deployed (no \`NODE_OPTIONS\`: \`enableSourceMaps\` is off by default; logs at INFO and metrics on, as \`UpstashFunction\` sets them) with \`AWS_LAMBDA_RUNTIME_API\` set as Lambda sets it (never called: it tells the runtime it serves one invocation at a time), against the local Secrets Manager and Upstash endpoints. As Lambda's runtime interface client does before it imports any handler, the runner loads \`node:http\` and \`node:net\` first, for every function and the empty handler alike; and the AWS SDK's once-a-process warning that its 2027 releases need Node 22 is off (\`AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED\`): Node 20 alone pays it, never Lambda's Node 24. **CPU ratio** = CPU time (user + system, \`process.cpuUsage()\`) from process start to the first event served (secrets fetched, clients built, one real request) over an empty handler's, bundled and started the same way, in the same round; median of ${r.runs ?? 7} rounds of fresh processes interleaved function by function. Waiting for a core is not counted, so the figure holds on a busy machine; wall-clock times beside it move with the load. The first result is checked: a handler that failed fast would prove nothing.${r.otherNode ? ` The **${r.otherNode}** columns (\`--node24\`: Lambda runs Node 24) come from the same rounds, each process started on that Node right after its twin, against that Node's empty handler; the ratio is given less the bench's plain-HTTP artifact of each round (see below), which Lambda, reaching Secrets Manager over https, does not pay.` : ''}`,
    '',
  );
  const other = r.otherNode
    ? ` ${r.otherNode}: CPU to first event | ${r.otherNode}: CPU ratio (as measured) |`
    : '';
  lines.push(
    `| function | bundle · SDK (+ map) | CPU: Node start / import / first event | CPU to first event | **CPU ratio** | goal |${other} wall to first event (ratio) | secret fetches cold / warm (10) | first result |`,
    `|---|---|---|---|---|---|${r.otherNode ? '---|---|' : ''}---|---|---|`,
  );
  for (const row of r.coldStart) {
    const goal = COLD_START_GOALS[row.function];
    const verdict =
      goal === undefined ? '–' : `≤ ${goal}× ${row.cpuRatio <= goal ? '(met)' : '(**missed**)'}`;
    const sdk = row.sdkBytes ? ` · ${kb(row.sdkBytes)}` : '';
    const onOther = r.otherNode
      ? ` ${row.otherNode ? `${ms(row.otherNode.cpuMs)} | **${row.otherNode.cpuRatioLessHttp}** (${row.otherNode.cpuRatio})` : '– | –'} |`
      : '';
    lines.push(
      `| ${row.function} | ${kb(row.bytes)}${sdk} (+ ${kb(row.mapBytes)}) | ${row.cpuStartMs ?? '–'} / ${row.cpuImportMs ?? '–'} / ${row.cpuFirstEventMs ?? '–'} ms | ${ms(row.cpuMs)} | **${row.cpuRatio}** | ${verdict} |${onOther} ${ms(row.firstEventMs)} (${row.ratio}) | ${row.secretFetchesCold} / ${row.secretFetchesWarm} | ${row.firstResult} |`,
    );
  }
  lines.push('');
  lines.push(...optionsMarkdown(r));
  if (r.breakdown?.length) lines.push(...breakdownMarkdown(r.breakdown, r.coldStart), '');
  if (r.sdkPackaging?.length) lines.push(...sdkMarkdown(r.sdkPackaging, r.coldStart), '');
  return lines;
}

function breakdownMarkdown(
  breakdown: readonly FunctionBreakdown[],
  coldStart: readonly ColdStartRow[],
): string[] {
  const lines: string[] = ['### Where the CPU goes, module by module', ''];
  const runs = breakdown[0]?.runs ?? 0;
  lines.push(
    `CPU time to the first event of each function, by module: V8 CPU profiles (\`--cpu-prof\`, a sample every 50 µs) of ${runs} more fresh processes per function, interleaved like the runs above. Each sample goes to the innermost frame that says whom it works for: a function of the bundle, mapped through the bundle's source map to its source file and from there to its package (the AWS SDK's packages counted together) or the project's module, or one of Node's own jobs (parsing the bundle, reading its source map, loading built-in modules, undici). A run's samples are scaled to the CPU the unprofiled runs measured after Node's start (the profiler's own cost left out), then the median per module is taken, so a column adds up to about its function's CPU; "Node start-up" is measured, not sampled. The profiled bundles keep their line breaks (so each top-level statement maps to its module); everything else is the deployed bundle. Cells: CPU at import + first event, and the bytes the module puts in the bundle (esbuild metafile).`,
    '',
  );
  const names = breakdown.map((b) => b.function);
  const modules = new Map<string, number>();
  for (const b of breakdown)
    for (const row of b.rows) modules.set(row.module, Math.max(modules.get(row.module) ?? 0, total(row)));
  const shown = [...modules]
    .filter(([, max]) => max >= 0.3)
    .sort((a, b) => b[1] - a[1])
    .map(([m]) => m);
  const rest = [...modules.keys()].filter((m) => !shown.includes(m));
  lines.push(`| module | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`);
  lines.push(
    `| Node and the runtime's start-up (before the import) | ${breakdown.map((b) => ms(b.startMs)).join(' | ')} |`,
  );
  const cell = (b: FunctionBreakdown, module: string) => {
    const row = b.rows.find((x) => x.module === module);
    if (!row) return '–';
    const size = row.bytes > 0 ? ` · ${kb(row.bytes)}` : '';
    return `${ms(total(row))}${size}`;
  };
  for (const module of shown)
    lines.push(`| ${module} | ${breakdown.map((b) => cell(b, module)).join(' | ')} |`);
  if (rest.length > 0) {
    const sums = breakdown.map((b) =>
      ms(b.rows.filter((row) => rest.includes(row.module)).reduce((n, row) => n + total(row), 0)),
    );
    lines.push(`| other (${rest.length} modules under 0.3 ms) | ${sums.join(' | ')} |`);
  }
  lines.push(
    `| **CPU to first event (measured)** | ${names.map((n) => `**${ms(coldStart.find((c) => c.function === n)?.cpuMs ?? 0)}**`).join(' | ')} |`,
    '',
  );
  lines.push(...shareNotes(breakdown));
  return lines;
}

/** The shares the decisions rest on, in words. */
function shareNotes(breakdown: readonly FunctionBreakdown[]): string[] {
  const notes: string[] = [];
  const sum = (b: FunctionBreakdown, test: (module: string) => boolean) =>
    b.rows.filter((row) => test(row.module)).reduce((n, row) => n + total(row), 0);
  const cpu = (b: FunctionBreakdown) => b.startMs + sum(b, () => true);
  const share = (b: FunctionBreakdown, test: (module: string) => boolean) => {
    const part = sum(b, test);
    return `${b.function} ${ms(part)} (${Math.round((100 * part) / cpu(b))} %)`;
  };
  const functions = breakdown.filter((b) => b.function !== 'empty');
  const powertools = (m: string) => m.startsWith('@aws-lambda-powertools/');
  notes.push(
    `- Powertools Logger and Metrics (with their commons): ${functions.map((b) => share(b, powertools)).join(', ')}.`,
    `- The AWS SDK (the Secrets Manager client: its top-level code at import, then one \`GetSecretValue\`): ${functions.map((b) => share(b, (m) => m.startsWith('AWS SDK'))).join(', ')}.`,
    `- Parsing and compiling the bundle: ${functions.map((b) => share(b, (m) => m === NODE_JOBS.parse)).join(', ')}; reading its source map: ${functions.map((b) => share(b, (m) => m === NODE_JOBS.sourceMaps)).join(', ')}.`,
  );
  const undici = functions.filter((b) => sum(b, (m) => m === NODE_JOBS.undici) >= 0.5);
  if (undici.length > 0)
    notes.push(
      `- undici (Node's fetch), still loaded by: ${undici.map((b) => share(b, (m) => m === NODE_JOBS.undici)).join(', ')}.`,
    );
  return notes;
}

function sdkMarkdown(rows: readonly SdkPackagingRow[], coldStart: readonly ColdStartRow[]): string[] {
  const bundled = rows.find((r) => r.packaging === 'bundled');
  const runtime = rows.find((r) => r.packaging === 'runtime');
  const empty = coldStart.find((c) => c.function === 'empty');
  const lines = [
    '### The Secrets Manager client: bundled or left to the runtime',
    '',
    `The ${bundled?.function ?? 'authorizer'} (whose first event is one \`GetSecretValue\` and little else) bundled twice in the same run: with the client minified into the bundle (what \`UpstashFunction\` does) and with \`@aws-sdk/*\` left to the runtime, loaded from a \`node_modules\` beside it as the Lambda runtime provides it. Timed in the same interleaved rounds as the table above.`,
    '',
    '| packaging | bundle | CPU to first event | CPU ratio to empty |',
    '|---|---|---|---|',
  ];
  for (const row of [bundled, runtime]) {
    if (!row) continue;
    lines.push(
      `| ${row.packaging === 'bundled' ? 'bundled, minified (chosen)' : 'left to the runtime'} | ${kb(row.bytes)} | ${ms(row.cpuMs)} | ${row.cpuRatio} |`,
    );
  }
  if (bundled && runtime && empty)
    lines.push(
      '',
      `Bundled saves ${ms(runtime.cpuMs - bundled.cpuMs)} of CPU per cold start (${Math.round((100 * (runtime.cpuMs - bundled.cpuMs)) / runtime.cpuMs)} %), ${round((runtime.cpuMs - bundled.cpuMs) / empty.cpuMs, 2)}× the empty handler's whole cold start.`,
    );
  return lines;
}

/** The source maps' cost and the plain-HTTP artifact, per Node. */
function optionsMarkdown(r: ColdStartReport): string[] {
  if (!r.sourceMaps?.length && !r.httpArtifact?.length) return [];
  const lines = [
    "### Source maps, and the bench's plain-HTTP endpoint",
    '',
    "Measured in the same rounds. **Source maps**: the api started with `enableSourceMaps` (`NODE_OPTIONS=--enable-source-maps`) against the api as deployed, both after their warm events then served an event they fail on, whose error's stack trace is read as a logged 5xx reads it. **Plain-HTTP artifact**: the SDK imports `node:http` as an ES module only for a plain-HTTP endpoint (the local Secrets Manager), never for AWS's https endpoint; two controls in the same rounds (an empty handler importing `node:https`, and the same plus `await import('node:http')`) measure what that import costs.",
    '',
    "| Node | api: reading the map at start | a failing invocation, with the map / without | plain-HTTP artifact (SDK's `node:http`) |",
    '|---|---|---|---|',
  ];
  for (const maps of r.sourceMaps ?? []) {
    const artifact = r.httpArtifact?.find((a) => a.node === maps.node);
    lines.push(
      `| ${maps.node} | ${ms(maps.loadMs)} | ${ms(maps.failingWithMapMs)} / ${ms(maps.failingWithoutMapMs)} | ${artifact ? ms(artifact.ms) : '–'} |`,
    );
  }
  lines.push('');
  return lines;
}
