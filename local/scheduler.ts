import { randomUUID } from 'node:crypto';
import { invoke, type LocalHandler } from './lambda-runtime';
import { withTag } from './request-tags';

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
  /** The run's `executionId`: its Upstash calls carried it as their tag (`scheduled:<id>`). */
  readonly id: string;
  readonly job: string;
  /** When it started (epoch ms). */
  readonly startedAt: number;
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

/** A schedule and when it runs next. */
export interface ScheduleState {
  readonly job: string;
  readonly expression: string;
  /** Epoch ms of the next run; `null` when it does not run by itself (cron/at, or timers off). */
  readonly nextRunAt: number | null;
  /** Whether a run is going on now. */
  readonly running: boolean;
}

/** Options of {@link LocalScheduler}. */
export interface LocalSchedulerOptions {
  /** Run the schedules on their rates; `false` keeps them for {@link LocalScheduler.runNow} only. @default true */
  readonly timers?: boolean;
}

/** Runs schedules until stopped. */
export class LocalScheduler {
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Map<string, Promise<ScheduledRun>>();
  readonly #onRun: (run: ScheduledRun) => void;
  readonly #schedules: readonly LocalSchedule[];
  readonly #next = new Map<string, number>();
  /** Jobs whose expression is not a rate: listed so `npm start` can say so. */
  readonly skipped: string[] = [];

  constructor(
    schedules: readonly LocalSchedule[],
    onRun: (run: ScheduledRun) => void = () => {},
    options: LocalSchedulerOptions = {},
  ) {
    this.#onRun = onRun;
    this.#schedules = schedules;
    for (const schedule of schedules) {
      const every = rateMs(schedule.expression);
      if (every === null) {
        this.skipped.push(`${schedule.job} (${schedule.expression})`);
        continue;
      }
      if (options.timers === false) continue;
      this.#next.set(schedule.job, Date.now() + every);
      const timer = setInterval(() => {
        this.#next.set(schedule.job, Date.now() + every);
        void this.run(schedule);
      }, every);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /** Every schedule, with its next run. */
  states(): ScheduleState[] {
    return this.#schedules.map((schedule) => ({
      job: schedule.job,
      expression: schedule.expression,
      nextRunAt: this.#next.get(schedule.job) ?? null,
      running: this.#running.has(schedule.job),
    }));
  }

  /**
   * Runs the schedule of `job` now, outside its rate (the console's "run now"), with the event its
   * schedule sends; a run already going is returned instead.
   * @throws Error when no schedule has that job
   */
  runNow(job: string): Promise<ScheduledRun> {
    const schedule = this.#schedules.find((s) => s.job === job);
    if (!schedule) throw new Error(`no schedule runs "${job}"`);
    return this.run(schedule);
  }

  /**
   * Runs one schedule now, unless a run of it is still going (then that run is returned), as a
   * schedule with a one-at-a-time target would.
   */
  run(schedule: LocalSchedule): Promise<ScheduledRun> {
    const current = this.#running.get(schedule.job);
    if (current) return current;
    const started = Date.now();
    const event = scheduledEvent(schedule.job);
    const id = String(event.executionId);
    const run = withTag({ kind: 'scheduled', id }, () =>
      invoke(schedule.job, schedule.handler, event, schedule.timeoutMs ?? 60_000),
    )
      .then(
        (result): ScheduledRun => ({
          id,
          job: schedule.job,
          startedAt: started,
          ok: true,
          ms: Date.now() - started,
          result,
        }),
        (error: unknown): ScheduledRun => ({
          id,
          job: schedule.job,
          startedAt: started,
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
