import { describe, expect, it, vi } from 'vitest';
import { LocalScheduler, rateMs, scheduledEvent } from '../../../local/scheduler';

describe('LocalScheduler', () => {
  it('reads rate expressions and leaves cron and at expressions to AWS', () => {
    expect(rateMs('rate(1 minute)')).toBe(60_000);
    expect(rateMs('rate(15 minutes)')).toBe(900_000);
    expect(rateMs(' rate(2 hours) ')).toBe(7_200_000);
    expect(rateMs('cron(0 3 * * ? *)')).toBeNull();
    expect(rateMs('at(2026-12-01T00:00:00)')).toBeNull();
    expect(() => rateMs('rate(5 fortnights)')).toThrow(/unsupported rate expression/);
    expect(() => rateMs('every minute')).toThrow(/not a schedule expression/);
  });

  it('sends the event a deployed schedule sends', () => {
    expect(scheduledEvent('maintenance')).toEqual({
      source: 'scheduler',
      job: 'maintenance',
      scheduledTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      executionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it('never runs two runs of one job at once, and reports each run', async () => {
    let active = 0;
    let most = 0;
    let calls = 0;
    const runs: string[] = [];
    const scheduler = new LocalScheduler([], (run) => runs.push(`${run.job}:${run.ok}`));
    const schedule = {
      job: 'queue-worker',
      expression: 'rate(1 minute)',
      handler: async (event: Record<string, unknown>) => {
        calls += 1;
        active += 1;
        most = Math.max(most, active);
        await new Promise((resolve) => setTimeout(resolve, 50));
        active -= 1;
        return { job: event.job };
      },
    };
    const [a, b, c] = await Promise.all([
      scheduler.run(schedule),
      scheduler.run(schedule),
      scheduler.run(schedule),
    ]);
    expect(calls).toBe(1);
    expect(most).toBe(1);
    expect(a).toBe(b);
    expect(c?.result).toEqual({ job: 'queue-worker' });
    await scheduler.run(schedule);
    expect(calls).toBe(2);
    expect(runs).toEqual(['queue-worker:true', 'queue-worker:true']);
    await scheduler.stop();
  });

  it('reports a failing or overrunning job without stopping', async () => {
    const scheduler = new LocalScheduler([]);
    const failed = await scheduler.run({
      job: 'maintenance',
      expression: 'rate(1 minute)',
      handler: async () => {
        throw new Error('redis down');
      },
    });
    expect(failed).toMatchObject({ ok: false, error: 'redis down' });
    const late = await scheduler.run({
      job: 'slow',
      expression: 'rate(1 minute)',
      timeoutMs: 30,
      handler: () => new Promise(() => {}),
    });
    expect(late).toMatchObject({ ok: false, error: 'slow timed out after 30 ms' });
    await scheduler.stop();
  });

  it('runs a job on its rate and lists the ones it cannot run', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    try {
      const jobs: string[] = [];
      const scheduler = new LocalScheduler([
        {
          job: 'queue-worker',
          expression: 'rate(1 minute)',
          handler: async (event) => {
            jobs.push(String(event.job));
          },
        },
        { job: 'nightly', expression: 'cron(0 3 * * ? *)', handler: async () => null },
      ]);
      expect(scheduler.skipped).toEqual(['nightly (cron(0 3 * * ? *))']);
      await vi.advanceTimersByTimeAsync(59_000);
      expect(jobs).toEqual([]);
      await vi.advanceTimersByTimeAsync(62_000);
      expect(jobs).toEqual(['queue-worker', 'queue-worker']);
      await scheduler.stop();
      await vi.advanceTimersByTimeAsync(120_000);
      expect(jobs).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('skips a tick while the previous run of the job is still going', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    try {
      let active = 0;
      let most = 0;
      const started: number[] = [];
      const scheduler = new LocalScheduler([
        {
          job: 'queue-worker',
          expression: 'rate(1 minute)',
          timeoutMs: 300_000,
          handler: async () => {
            started.push(Date.now());
            active += 1;
            most = Math.max(most, active);
            await new Promise((resolve) => setTimeout(resolve, 90_000));
            active -= 1;
          },
        },
      ]);
      const t0 = Date.now();
      // Ticks at 60 s (runs until 150 s), 120 s (still running: skipped), 180 s (runs).
      await vi.advanceTimersByTimeAsync(185_000);
      expect(started.map((t) => Math.round((t - t0) / 1000))).toEqual([60, 180]);
      expect(most).toBe(1);
      await vi.advanceTimersByTimeAsync(90_000);
      await scheduler.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops within its grace period even when a job hangs', async () => {
    const scheduler = new LocalScheduler([]);
    const hung = scheduler.run({
      job: 'maintenance',
      expression: 'rate(15 minutes)',
      timeoutMs: 60_000,
      handler: () => new Promise(() => {}),
    });
    const began = Date.now();
    await scheduler.stop(50);
    // The 50 ms grace, not the job's 60 s timeout (room for a loaded machine's late timers).
    expect(Date.now() - began).toBeLessThan(10_000);
    void hung;
  });
});
