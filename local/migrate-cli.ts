/**
 * `npm run migrate -- copy   --from <redis-url> --to <db> [--match <pattern>] [--batch 500] [--dry-run] [--restart]`
 * `npm run migrate -- verify --from <redis-url> --to <db> [--match <pattern>] [--sample <n>] [--ttl-tolerance-ms 2000]`
 * `npm run migrate -- status --from <redis-url> --to <db> [--match <pattern>]`
 *
 * Copies keys from a self-hosted Redis into an Upstash database of this stack, resumably, with a
 * progress bar; verifies the result. `--to` names a database of the running local stack
 * (`npm start`), or, without one, of the environment the runtime reads (UPSTASH_DATABASES with
 * secret ARNs and AWS credentials, or UPSTASH_REDIS_REST_URL_<DB> / _TOKEN_<DB>).
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
import { loadCredentials, refreshCredentials } from '../lambda/shared/credentials';
import type { RedisLike } from '../lambda/shared/redis';
import { keyBuilder, runtimeEnv } from '../lambda/shared/runtime';
import { safeUrl } from './safe-url';
import { readStackFile } from './stack-file';

const USAGE = `Usage:
  npm run migrate -- copy   --from <redis-url> --to <db> [--match <pattern>] [--batch 500] [--dry-run] [--restart]
  npm run migrate -- verify --from <redis-url> --to <db> [--match <pattern>] [--sample <n>] [--ttl-tolerance-ms 2000]
  npm run migrate -- status --from <redis-url> --to <db> [--match <pattern>]`;

export { safeUrl } from './safe-url';

const fmt = (n: number) => n.toLocaleString('en-US');

/** One line of progress: bar, counts, rate, ETA. */
export function progressLine(p: CopyProgress, rate: CopyRate, width = 24): string {
  // DBSIZE counts every key, so with a --match pattern the share is a floor until done.
  const share = p.done ? 1 : p.total > 0 ? Math.min(1, p.scanned / p.total) : 0;
  const filled = Math.round(share * width);
  const eta = p.done ? 'done' : rate.etaSeconds === null ? 'ETA -' : `ETA ${rate.etaSeconds} s`;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(share * 100)}% ${fmt(p.copied)} keys copied${
    p.total ? ` of ~${fmt(p.total)}` : ''
  }, ${fmt(rate.keysPerSecond)} keys/s, ${eta}`;
}

/** The rate over a copy's whole life so far (its runs and the pauses between them). */
export function averageRate(p: CopyProgress): CopyRate {
  const seconds = (p.updatedAt - p.startedAt) / 1000;
  const rate = seconds > 0 ? (p.copied + p.skipped) / seconds : 0;
  return {
    keysPerSecond: Math.round(rate),
    etaSeconds: rate > 0 ? Math.round(Math.max(0, p.total - p.scanned) / rate) : null,
  };
}

async function target(db: string): Promise<RedisLike & { close(): Promise<void> }> {
  const database = runtimeEnv().databases[db];
  if (!database) {
    throw new Error(`no database "${db}" (known: ${Object.keys(runtimeEnv().databases).join(', ')})`);
  }
  // The plain client (never the migration router), with room for large pipelines.
  return createRedisClient(
    database,
    { load: () => loadCredentials(database), refresh: () => refreshCredentials(database) },
    { timeoutMs: 15_000 },
  );
}

/**
 * Runs the CLI; returns the exit code. `err` gets progress and messages, `out` the results;
 * `signal` stops a copy after its current batch, with the checkpoint saved.
 */
export async function main(
  argv: readonly string[],
  out: (line: string) => void = console.log,
  err: (text: string) => void = (t) => process.stderr.write(t),
  signal?: AbortSignal,
): Promise<number> {
  const { values, positionals } = parseArgs({
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
  const command = positionals[0];
  if (values.help || !command || !['copy', 'verify', 'status'].includes(command)) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  if (!values.from || !values.to) {
    err(`--from <redis-url> and --to <db> are required\n${USAGE}\n`);
    return 2;
  }
  try {
    Object.assign(process.env, readStackFile().env);
  } catch {
    // No local stack: the environment as it is (a deployed stack's secrets, or local variables).
  }
  const keys = keyBuilder();
  const match = values.match ?? `${keys.prefix}:*`;
  const source = new IORedis(values.from, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const to = await target(values.to);
  try {
    await source.connect();
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
      `${values['dry-run'] ? 'counting' : 'copying'} ${match} from ${safeUrl(values.from)} to database "${values.to}"\n`,
    );
    const interactive = process.stderr.isTTY === true;
    let lastLine = 0;
    const final = await copyKeys({
      source,
      target: to,
      checkpoint,
      match,
      batch: Number(values.batch),
      dryRun: values['dry-run'],
      restart: values.restart,
      ...(signal ? { signal } : {}),
      onProgress: (p, rate) => {
        if (interactive) err(`\r${progressLine(p, rate)}`);
        else if (p.done || Date.now() - lastLine > 5_000) {
          lastLine = Date.now();
          err(`${progressLine(p, rate)}\n`);
        }
      },
    });
    if (interactive) err('\n');
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
      console.error(error.message);
      process.exit(1);
    },
  );
}
