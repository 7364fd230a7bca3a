import { writeFileSync } from 'node:fs';
import type { Cost } from './lib';
import type { ColdStartRow, CostRow, LatencyRow, RateLimitRow } from './run';

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  readonly date: string;
  readonly machine: { os: string; cpus: number; cpuModel: string; memoryGiB: number };
  readonly node: string;
  readonly runs: number;
  readonly durationMs: number;
  readonly costs: readonly CostRow[];
  readonly rateLimits: readonly RateLimitRow[];
  readonly secretFetches: Readonly<Record<string, number>>;
  readonly coldStart: readonly ColdStartRow[];
  readonly overhead: { readonly gateway: readonly LatencyRow[]; readonly upstash: readonly LatencyRow[] };
}

const fmt = (c: Cost | undefined) => (c ? `${c.commands} / ${c.roundTrips} / ${c.billed}` : '');
const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;

/** Where a measured figure misses its target, with the reason: every gap is named. */
function gaps(r: BenchResults): string[] {
  const out: string[] = [];
  for (const row of r.costs) {
    if (!row.target) continue;
    if (row.ours.commands > row.target.commands || row.ours.roundTrips > row.target.roundTrips) {
      out.push(
        `${row.group} ${row.operation}: ${row.ours.commands} commands / ${row.ours.roundTrips} round trips against a target of ${row.target.commands} / ${row.target.roundTrips}.`,
      );
    }
  }
  for (const row of r.rateLimits) {
    if (row.ours.billed > row.anchorBilled) {
      out.push(
        `rate limit ${row.algorithm}, ${row.case}: ${row.ours.billed} billed against @upstash/ratelimit's ${row.anchorBilled} (anchor) / ${row.library.billed} (measured). ${
          row.algorithm === 'fixed-window' && row.case === 'rejected'
            ? 'Our script INCRBYs and, on a refusal, undoes it (DECRBY, or DEL when the key was new) so a refused request consumes nothing: EVALSHA + INCRBY + DECRBY = 3. The library leaves refused requests in the counter (2). Reading first would make every admitted check cost 3 instead of 2; refusals are the rarer path, and repeated ones are answered by the blocked cache for 0 commands (docs/services.md).'
            : 'See docs/services.md.'
        }`,
      );
    }
  }
  if ((r.secretFetches.warm100 ?? 0) > 0)
    out.push(`secret fetches while warm: ${r.secretFetches.warm100} in 100 requests (target 0).`);
  return out;
}

function markdown(r: BenchResults): string {
  const lines: string[] = [];
  lines.push('# Benchmark results', '');
  lines.push(
    `\`npm run bench\` on ${r.date.slice(0, 10)}: ${r.machine.os}, ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.node}; ${r.runs} runs per figure (medians), ${Math.round(r.durationMs / 1000)} s in all. Raw figures: \`results.json\`.`,
    '',
    'Counts are exact and repeat run to run. Times drift with the machine, so each is shown next to its reference from the same run, as a ratio.',
    '',
  );
  lines.push('## Cost per operation', '');
  lines.push(
    "Commands and HTTP round trips counted at the local Upstash endpoint; billed = what Upstash bills (each command, plus each command a script runs), from `INFO commandstats` deltas on the bench's own Redis. Cells: commands / round trips / billed.",
    '',
  );
  lines.push(
    '| operation | ours | target (DESIGN §9) | reference | reference cost |',
    '|---|---|---|---|---|',
  );
  for (const row of r.costs) {
    lines.push(
      `| ${row.group}: ${row.operation} | ${fmt(row.ours)} | ${row.target ? `${row.target.commands} / ${row.target.roundTrips}` : '–'} | ${row.reference?.name ?? '–'} | ${fmt(row.reference?.cost)} |`,
    );
  }
  lines.push('', '![per-operation cost, ours against the reference](costs.svg)', '');
  lines.push('## Rate-limit checks: billed commands, ours vs @upstash/ratelimit', '');
  lines.push(
    'Limit 3 per 60 s, ephemeral/blocked caches off on both sides (the cache path costs 0 commands). "anchor" is the figure DESIGN.md §9 cites for the library.',
    '',
  );
  lines.push(
    '| algorithm | case | ours (cmd / rt / billed) | @upstash/ratelimit measured | anchor billed |',
    '|---|---|---|---|---|',
  );
  for (const row of r.rateLimits) {
    lines.push(
      `| ${row.algorithm} | ${row.case} | ${fmt(row.ours)} | ${fmt(row.library)} | ${row.anchorBilled} |`,
    );
  }
  lines.push('', '## Secret fetches', '');
  lines.push(
    `- First request of a fresh stack (cold): ${r.secretFetches.coldStart} GetSecretValue (one per database secret the api function uses, plus the authorizer's API-key secret).`,
    `- The next 100 requests (warm): ${r.secretFetches.warm100}.`,
    '- Per fresh process of each bundle (1 cold + 10 warm events): see the cold-start table.',
    '',
  );
  lines.push('## Cold start of the bundles', '');
  lines.push(
    'Bundled like the CDK construct (esbuild, ESM, minified, Node 24 target, `@aws-sdk/*` left to the runtime), run in a fresh Node process outside the tree. Times from process start; ratio = first event served against an empty handler measured the same way.',
    '',
  );
  lines.push(
    '| function | bundle | import | first event served | ratio to empty | secret fetches (1 cold + 10 warm) |',
    '|---|---|---|---|---|---|',
  );
  for (const row of r.coldStart) {
    lines.push(
      `| ${row.function} | ${kb(row.bytes)} | ${row.importMs} ms | ${row.firstEventMs} ms | ${row.ratio} | ${row.secretFetches} |`,
    );
  }
  lines.push('', '## Overhead', '');
  lines.push('Sequential requests, 300 per run; p50/p99 latency and requests per second.', '');
  const latency = (rows: readonly LatencyRow[]) => {
    lines.push('| path | p50 | p99 | per second |', '|---|---|---|---|');
    for (const row of rows)
      lines.push(`| ${row.name} | ${row.p50Ms} ms | ${row.p99Ms} ms | ${row.perSecond} |`);
  };
  latency(r.overhead.gateway);
  const [g, d] = r.overhead.gateway;
  if (g && d)
    lines.push('', `Gateway vs direct handler, p50 ratio: **${(g.p50Ms / d.p50Ms).toFixed(2)}**.`, '');
  latency(r.overhead.upstash);
  const [us, io, up, ip] = r.overhead.upstash;
  if (us && io && up && ip) {
    lines.push(
      '',
      `Local Upstash endpoint vs ioredis, p50 ratio: single GET **${(us.p50Ms / io.p50Ms).toFixed(2)}**, pipeline of 100 **${(up.p50Ms / ip.p50Ms).toFixed(2)}** (HTTP + JSON per request, amortised by pipelining).`,
      '',
    );
  }
  const named = gaps(r);
  lines.push('## Gaps against the targets', '');
  if (named.length === 0) lines.push('None.');
  for (const gap of named) lines.push(`- ${gap}`);
  lines.push(
    '',
    '## Notes',
    '',
    "- `@upstash/lock` itself is not installed: its 0.2.1 declares a peer dependency on TypeScript ^5, which conflicts with this project's TypeScript 7 (npm refuses without `--legacy-peer-deps`). Its algorithm (from its `src/lock.ts`: `SET NX PX` to acquire, a full-text `EVAL` compare-and-delete to release) is replayed command for command instead.",
    "- Billed counts run higher than commands wherever a script does the work: one EVALSHA plus its inner calls. That buys atomicity the naive references lack (their commands can interleave with other clients). Lock acquire bills 3 against `SET NX PX`'s 1 because it also INCRs the resource's fencing counter (the token a protected resource checks), which @upstash/lock does not have.",
    '- The API rows use one database for everything, so both commands of a read share one round trip; with separate cache and state databases a read is one round trip per database, sent in parallel.',
    '',
  );
  return lines.join('\n');
}

/** A grouped bar chart of commands and round trips per operation, ours against the reference. */
function svg(r: BenchResults): string {
  const rows = r.costs.filter((c) => c.reference);
  const rowH = 34;
  const left = 330;
  const scale = 26;
  const width = left + 16 * scale + 60;
  const height = 60 + rows.length * rowH + 30;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">Cost per operation: HTTP round trips (bar) and commands (number), ours vs reference</text>`,
    `<rect x="12" y="34" width="12" height="10" fill="#2f6fdf"/><text x="30" y="43">ours</text>`,
    `<rect x="80" y="34" width="12" height="10" fill="#c9c9c9"/><text x="98" y="43">reference</text>`,
  );
  rows.forEach((row, i) => {
    const y = 60 + i * rowH;
    const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    parts.push(`<text x="12" y="${y + 12}">${esc(`${row.group}: ${row.operation}`)}</text>`);
    parts.push(
      `<text x="12" y="${y + 26}" fill="#666" font-size="10">${esc(row.reference?.name ?? '')}</text>`,
    );
    const bar = (value: number, dy: number, color: string, label: string) => {
      const w = Math.max(2, value * scale);
      parts.push(`<rect x="${left}" y="${y + dy}" width="${w}" height="11" fill="${color}"/>`);
      parts.push(`<text x="${left + w + 6}" y="${y + dy + 10}" font-size="10">${label}</text>`);
    };
    bar(
      row.ours.roundTrips,
      2,
      '#2f6fdf',
      `${row.ours.roundTrips} rt, ${row.ours.commands} cmd, ${row.ours.billed} billed`,
    );
    const ref = row.reference?.cost;
    if (ref)
      bar(ref.roundTrips, 16, '#c9c9c9', `${ref.roundTrips} rt, ${ref.commands} cmd, ${ref.billed} billed`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes results.json, RESULTS.md and costs.svg into bench/. */
export function writeReport(results: BenchResults): void {
  const dir = new URL('./', import.meta.url);
  writeFileSync(new URL('results.json', dir), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(new URL('RESULTS.md', dir), markdown(results));
  writeFileSync(new URL('costs.svg', dir), `${svg(results)}\n`);
}
