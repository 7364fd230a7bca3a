import { randomUUID } from 'node:crypto';
import { invoke, type LocalHandler } from './lambda-runtime';

/**
 * A local EventBridge Scheduler: runs each scheduled handler on its `rate(...)` expression with
 * the event the deployed schedule sends, never two runs of one job at once.
 */

/** One schedule. */
export interface LocalSchedule {
  /** Job name, sent as `job` in the event (`queue-worker`, `maintenance`). */
  readonly job: string;
  /** EventBridge Scheduler expression; only `rate(...)` runs locally. */
  readonly expression: string;
  readonly handler: LocalHandler<Record<string, unknown>, unknown>;
  /** The function's timeout, in ms. @default 60_000 */
  readonly timeoutMs?: number;
}

/** What a run did, for the log line. */
export interface ScheduledRun {
  readonly job: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly result?: unknown;
  readonly error?: string;
}

const UNITS: Readonly<Record<string, number>> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/**
 * The interval of a `rate(<n> <unit>)` expression in ms, or `null` for `cron(...)`/`at(...)`,
 * which the local scheduler does not run.
 *
 * @throws Error on an expression that is neither
 */
export function rateMs(expression: string): number | null {
  const rate = /^rate\(\s*(\d+)\s+([a-z]+)\s*\)$/.exec(expression.trim());
  if (rate) {
    const unit = UNITS[rate[2] as string];
    const n = Number(rate[1]);
    if (unit === undefined || n < 1) throw new Error(`unsupported rate expression "${expression}"`);
    return n * unit;
  }
  if (/^(cron|at)\(.*\)$/.test(expression.trim())) return null;
  throw new Error(`not a schedule expression: "${expression}"`);
}

/** The event a schedule sends (see lib/constructs/scheduled-job.ts). */
export const scheduledEvent = (job: string): Record<string, unknown> => ({
  source: 'scheduler',
  job,
  scheduledTime: new Date().toISOString(),
  executionId: randomUUID(),
});

/** Runs schedules until stopped. */
export class LocalScheduler {
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Map<string, Promise<ScheduledRun>>();
  readonly #onRun: (run: ScheduledRun) => void;
  /** Jobs whose expression is not a rate: listed so `npm start` can say so. */
  readonly skipped: string[] = [];

  constructor(schedules: readonly LocalSchedule[], onRun: (run: ScheduledRun) => void = () => {}) {
    this.#onRun = onRun;
    for (const schedule of schedules) {
      const every = rateMs(schedule.expression);
      if (every === null) {
        this.skipped.push(`${schedule.job} (${schedule.expression})`);
        continue;
      }
      const timer = setInterval(() => void this.run(schedule), every);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /**
   * Runs one schedule now, unless a run of it is still going (then that run is returned), as a
   * schedule with a one-at-a-time target would.
   */
  run(schedule: LocalSchedule): Promise<ScheduledRun> {
    const current = this.#running.get(schedule.job);
    if (current) return current;
    const started = Date.now();
    const run = invoke(
      schedule.job,
      schedule.handler,
      scheduledEvent(schedule.job),
      schedule.timeoutMs ?? 60_000,
    )
      .then(
        (result): ScheduledRun => ({ job: schedule.job, ok: true, ms: Date.now() - started, result }),
        (error: unknown): ScheduledRun => ({
          job: schedule.job,
          ok: false,
          ms: Date.now() - started,
          error: error instanceof Error ? error.message : String(error),
        }),
      )
      .then((outcome) => {
        this.#running.delete(schedule.job);
        this.#onRun(outcome);
        return outcome;
      });
    this.#running.set(schedule.job, run);
    return run;
  }

  /**
   * Stops the timers (no new scheduled runs) and waits for runs in progress, at most `graceMs`:
   * a hung job cannot hold up Ctrl-C (its promise is left behind, as Lambda would freeze it).
   */
  async stop(graceMs = 5_000): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    try {
      await Promise.race([Promise.all(this.#running.values()), grace]);
    } finally {
      clearTimeout(timer);
    }
  }
}
