/**
 * `npm run migrate -- copy   --from <redis-url> --to <db> [--match <pattern>] [--batch 500] [--dry-run] [--restart]`
 * `npm run migrate -- verify --from <redis-url> --to <db> [--match <pattern>] [--sample <n>] [--ttl-tolerance-ms 2000]`
 * `npm run migrate -- status --from <redis-url> --to <db> [--match <pattern>]`
 *
 * Copies keys from a self-hosted Redis into an Upstash database of this stack, resumably, with a
 * progress bar; verifies the result. `--to` names a database of the environment the runtime reads
 * when it names one (UPSTASH_DATABASES with secret ARNs and AWS credentials, or
 * UPSTASH_REDIS_REST_URL_<DB> / _TOKEN_<DB>; docs/migration.md lists them), else of the running
 * local stack (`npm start`).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis as IORedis } from 'ioredis';
import {
  type CopyProgress,
  type CopyRate,
  copyKeys,
  redisCheckpoint,
  verifyKeys,
} from '../lambda/services/migration/copy';
import { checkpointKey, copyId } from '../lambda/services/migration/copy-job';
import { createRedisClient } from '../lambda/shared/client';
import { credentialsSource, loadCredentials, refreshCredentials } from '../lambda/shared/credentials';
import type { RedisLike } from '../lambda/shared/redis';
import { keyBuilder, runtimeEnv } from '../lambda/shared/runtime';
import { flagError, oneLine } from './cli-errors';
import { safeUrl } from './safe-url';
import { readStackFile } from './stack-file';

const USAGE = `Usage:
  npm run migrate -- copy   --from <redis-url> --to <db> [--match <pattern>] [--batch 500] [--dry-run] [--restart]
  npm run migrate -- verify --from <redis-url> --to <db> [--match <pattern>] [--sample <n>] [--ttl-tolerance-ms 2000]
  npm run migrate -- status --from <redis-url> --to <db> [--match <pattern>]`;

export { safeUrl } from './safe-url';

const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * One line of progress. With a total: bar, share, counts, rate and ETA. Without one (a pattern
 * not counted first): what was copied and the rate, and says the total is unknown rather than
 * draw a bar against the wrong base.
 */
export function progressLine(p: CopyProgress, rate: CopyRate, width = 24): string {
  const speed = `${fmt(rate.keysPerSecond)} keys/s`;
  if (p.total === null) {
    return `${fmt(p.copied)} keys copied${p.done ? '' : ' (total unknown)'}, ${speed}${p.done ? ', done' : ''}`;
  }
  // The total was counted at the start; keys come and go meanwhile, so the share stops at 100 %.
  const share = p.done ? 1 : p.total > 0 ? Math.min(1, p.scanned / p.total) : 0;
  const filled = Math.round(share * width);
  const eta = p.done ? 'done' : rate.etaSeconds === null ? 'ETA -' : `ETA ${rate.etaSeconds} s`;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(share * 100)}% ${fmt(p.copied)} of ~${fmt(
    p.total,
  )} keys copied, ${speed}, ${eta}`;
}

/** The rate over a copy's whole life so far (its runs and the pauses between them). */
export function averageRate(p: CopyProgress): CopyRate {
  const seconds = (p.updatedAt - p.startedAt) / 1000;
  const rate = seconds > 0 ? (p.copied + p.skipped) / seconds : 0;
  return {
    keysPerSecond: Math.round(rate),
    etaSeconds: rate > 0 && p.total !== null ? Math.round(Math.max(0, p.total - p.scanned) / rate) : null,
  };
}

/** Where progress goes: a terminal (one line rewritten in place) or a log (a line every 5 s). */
export interface ProgressTerminal {
  readonly interactive: boolean;
  /** Width of the terminal: a line wider than this would wrap, and `\r` would rewrite only its end. */
  readonly columns?: number;
}

/**
 * Prints progress lines to `write`. On a terminal each line replaces the last, erased to the end
 * of the line first (ESC [K), so nothing of a longer line stays behind ("done s"); elsewhere a
 * line every 5 s and the final one.
 */
export function progressPrinter(
  write: (text: string) => void,
  terminal: ProgressTerminal,
  now: () => number = Date.now,
): { update(line: string, final: boolean): void; end(): void } {
  let shown = false;
  let last = 0;
  return {
    update(line, final) {
      if (terminal.interactive) {
        const fitted = terminal.columns && terminal.columns > 1 ? line.slice(0, terminal.columns - 1) : line;
        write(`\r${fitted}\x1b[K`);
        shown = true;
      } else if (final || now() - last > 5_000) {
        last = now();
        write(`${line}\n`);
      }
    },
    end() {
      if (shown) write('\n');
    },
  };
}

/** The target database's plain client, and where its credentials come from (for messages). */
async function target(
  db: string,
): Promise<{ client: RedisLike & { close(): Promise<void> }; source: string }> {
  const database = runtimeEnv().databases[db];
  if (!database) {
    throw new Error(
      `no database "${db}" (known: ${Object.keys(runtimeEnv().databases).join(', ')}); outside the local stack, UPSTASH_DATABASES names them (docs/migration.md)`,
    );
  }
  // The plain client (never the migration router), with room for large pipelines.
  const client = await createRedisClient(
    database,
    { load: () => loadCredentials(database), refresh: () => refreshCredentials(database) },
    { timeoutMs: 15_000 },
  );
  return { client, source: credentialsSource(database) };
}

/**
 * Variables that name a target themselves: when one is set, the environment is the target and
 * a running local stack is not (so a copy meant for Upstash never lands in `npm start`'s Redis).
 */
const TARGET_VARIABLES = /^(UPSTASH_DATABASES|FEATURE_DATABASES|UPSTASH_REDIS_REST_URL(_.+)?|REDIS_URL_.+)$/;

/**
 * Runs the CLI; returns the exit code. `err` gets progress and messages, `out` the results;
 * `signal` stops a copy after its current batch, with the checkpoint saved.
 */
export async function main(
  argv: readonly string[],
  out: (line: string) => void = console.log,
  err: (text: string) => void = (t) => process.stderr.write(t),
  signal?: AbortSignal,
  terminal: ProgressTerminal = {
    interactive: process.stderr.isTTY === true,
    columns: process.stderr.columns,
  },
): Promise<number> {
  let parsed: ReturnType<typeof parseMigrateArgs>;
  try {
    parsed = parseMigrateArgs(argv);
  } catch (error) {
    err(`npm run migrate: ${flagError(error, 'npm run migrate -- --help lists them')}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || !positionals[0] || !['copy', 'verify', 'status'].includes(positionals[0])) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  if (!values.from || !values.to) {
    err('npm run migrate: --from <redis-url> and --to <db> are required (npm run migrate -- --help)\n');
    return 2;
  }
  return run(
    values as MigrateValues & { from: string; to: string },
    positionals[0],
    out,
    err,
    signal,
    terminal,
  );
}

function parseMigrateArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      match: { type: 'string' },
      batch: { type: 'string', default: '500' },
      sample: { type: 'string' },
      'ttl-tolerance-ms': { type: 'string', default: '2000' },
      'dry-run': { type: 'boolean', default: false },
      restart: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type MigrateValues = ReturnType<typeof parseMigrateArgs>['values'];

/** Runs one command with parsed flags. */
async function run(
  values: MigrateValues & { from: string; to: string },
  command: string,
  out: (line: string) => void,
  err: (text: string) => void,
  signal: AbortSignal | undefined,
  terminal: ProgressTerminal,
): Promise<number> {
  if (!Object.keys(process.env).some((name) => TARGET_VARIABLES.test(name))) {
    try {
      Object.assign(process.env, readStackFile().env);
    } catch {
      // No local stack either: the runtime's defaults (one database, "default").
    }
  }
  const keys = keyBuilder();
  const match = values.match ?? `${keys.prefix}:*`;
  const source = new IORedis(values.from, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // ioredis reports connection errors as events too: kept for the message, never printed raw.
  let sourceError: Error | undefined;
  source.on('error', (error: Error) => {
    sourceError ??= error;
  });
  const { client: to, source: toSource } = await target(values.to);
  try {
    await source.connect().catch((error: Error) => {
      source.disconnect();
      throw new Error(
        `cannot reach the source Redis ${safeUrl(values.from)} (${oneLine((sourceError ?? error).message)}); check --from and that it runs`,
      );
    });
    const checkpoint = redisCheckpoint(to, checkpointKey(keys, copyId(values.from, match)));
    if (command === 'status') {
      const saved = await checkpoint.load();
      out(saved ? JSON.stringify(saved, null, 2) : `no copy of ${safeUrl(values.from)} ${match} has started`);
      if (saved) err(`${progressLine(saved, averageRate(saved))}\n`);
      return 0;
    }
    if (command === 'verify') {
      const report = await verifyKeys({
        source,
        target: to,
        match,
        ttlToleranceMs: Number(values['ttl-tolerance-ms']),
        ...(values.sample ? { sample: Number(values.sample) } : {}),
      });
      out(JSON.stringify(report, null, 2));
      const clean = report.checked === report.equal;
      err(
        clean
          ? `verified: all ${fmt(report.checked)} keys equal (values, types, TTLs within ${values['ttl-tolerance-ms']} ms)\n`
          : `differences: ${report.missing} missing, ${report.typeMismatch} type, ${report.valueMismatch} value, ${report.ttlMismatch} TTL\n`,
      );
      return clean ? 0 : 1;
    }
    err(
      `${values['dry-run'] ? 'counting' : 'copying'} ${match} from ${safeUrl(values.from)} to database "${values.to}" (${toSource})\n`,
    );
    const printer = progressPrinter(err, terminal);
    const final = await copyKeys({
      source,
      target: to,
      checkpoint,
      match,
      batch: Number(values.batch),
      dryRun: values['dry-run'],
      restart: values.restart,
      // A new copy counts the matching keys first, so the bar has the right total (a dry run is
      // that count itself).
      countFirst: !values['dry-run'],
      ...(signal ? { signal } : {}),
      onProgress: (p, rate) => printer.update(progressLine(p, rate), p.done),
    });
    printer.end();
    if (!final.done && !values['dry-run']) err('stopped: the same command resumes from the checkpoint\n');
    out(
      JSON.stringify(
        {
          done: final.done,
          copied: final.copied,
          skipped: final.skipped,
          byType: final.byType,
          bytes: final.bytes,
        },
        null,
        2,
      ),
    );
    return 0;
  } finally {
    source.disconnect();
    await to.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Ctrl-C: finish the batch in flight and save the checkpoint; a second Ctrl-C quits at once.
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nstopping after this batch (Ctrl-C again to quit now)\n');
    interrupt.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  main(process.argv.slice(2), console.log, (t) => process.stderr.write(t), interrupt.signal).then(
    (code) => process.exit(code),
    (error: Error) => {
      // One line, with what to do; never a stack trace.
      console.error(`npm run migrate: ${oneLine(error.message)}`);
      process.exit(1);
    },
  );
}
