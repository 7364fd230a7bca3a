import { get, post, type StackInfo } from '../api';
import { byId, clock, duration, fields, h, replace, say } from '../dom';
import { tenantField } from './tenant';

/**
 * The queue: jobs per type in each state (every tenant's), the scheduler's next runs with "run
 * now", and a tenant's dead letters with redrive and drop.
 */

interface Counts {
  readonly ready: number;
  readonly delayed: number;
  readonly inFlight: number;
  readonly dead: number;
}
interface Schedule {
  readonly job: string;
  readonly expression: string;
  readonly nextRunAt: number | null;
  readonly running: boolean;
}
interface Job {
  readonly id: string;
  readonly type: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly finishedAt?: number;
  readonly lastError?: string;
}

export function mountQueue(stack: StackInfo): { refresh(): Promise<void> } {
  const overview = h('div', {});
  const schedules = h('div', {});
  const dead = h('div', { 'aria-live': 'polite' });
  const status = h('div', { role: 'status' });
  let tenant = stack.tenant;

  async function refresh(): Promise<void> {
    try {
      const queue = await get<{ counts: Record<string, Counts>; truncated: boolean; schedules: Schedule[] }>(
        'queue',
      );
      const types = Object.entries(queue.counts).sort(([a], [b]) => a.localeCompare(b));
      replace(
        overview,
        types.length === 0
          ? h('p', {}, 'No jobs ready, delayed, in flight or dead.')
          : h(
              'table',
              { id: 'queue-counts' },
              h(
                'caption',
                {},
                `Jobs per type, every tenant's${queue.truncated ? ' (the first 1,000 of each state)' : ''}`,
              ),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', { scope: 'col' }, 'Type'),
                  ...['Ready', 'Delayed', 'In flight', 'Dead letters'].map((t) =>
                    h('th', { scope: 'col', class: 'num' }, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                ...types.map(([type, c]) =>
                  h(
                    'tr',
                    { 'data-type': type },
                    h('th', { scope: 'row' }, type),
                    ...[c.ready, c.delayed, c.inFlight, c.dead].map((n) =>
                      h('td', { class: 'num' }, String(n)),
                    ),
                  ),
                ),
              ),
            ),
      );
      replace(
        schedules,
        h(
          'table',
          { id: 'schedules' },
          h('caption', {}, 'Scheduled functions'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Function', 'Schedule', 'Next run', 'Action'].map((t) => h('th', { scope: 'col' }, t)),
            ),
          ),
          h(
            'tbody',
            {},
            ...queue.schedules.map((s) =>
              h(
                'tr',
                {},
                h('th', { scope: 'row' }, s.job),
                h('td', {}, s.expression),
                h(
                  'td',
                  {},
                  s.running
                    ? 'running now'
                    : s.nextRunAt === null
                      ? 'not on its own (run it here)'
                      : clock(s.nextRunAt),
                ),
                h(
                  'td',
                  {},
                  h(
                    'button',
                    {
                      type: 'button',
                      'data-run': s.job,
                      onclick: async (event) => {
                        const button = event.currentTarget as HTMLButtonElement;
                        button.disabled = true;
                        try {
                          const run = await post<{ ok: boolean; ms: number; error?: string }>(
                            `schedules/${encodeURIComponent(s.job)}/run`,
                          );
                          say(
                            status,
                            `${s.job} ${run.ok ? 'ran' : `failed: ${run.error}`} in ${duration(run.ms)}`,
                            !run.ok,
                          );
                        } catch (error) {
                          say(status, (error as Error).message, true);
                        } finally {
                          button.disabled = false;
                        }
                        await refresh();
                      },
                    },
                    `Run ${s.job} now`,
                  ),
                ),
              ),
            ),
          ),
        ),
      );
      await showDead();
    } catch (error) {
      say(overview, (error as Error).message, true);
    }
  }

  async function act(job: Job, action: 'redrive' | 'drop'): Promise<void> {
    try {
      await post(`dead-letters/${encodeURIComponent(job.id)}/${action}`, { tenant });
      say(status, `${action === 'redrive' ? 'Redriven' : 'Dropped'}: ${job.type} ${job.id}`);
    } catch (error) {
      say(status, (error as Error).message, true);
    }
    await refresh();
  }

  async function showDead(): Promise<void> {
    const { jobs } = await get<{ jobs: Job[] }>('dead-letters', { tenant });
    replace(
      dead,
      jobs.length === 0
        ? h('p', {}, `No dead letters for tenant ${tenant}.`)
        : h(
            'table',
            { id: 'dead-letters' },
            h('caption', {}, `Dead letters of tenant ${tenant}`),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...['Job', 'Type', 'Attempts', 'Died', 'Last error', 'Actions'].map((t) =>
                  h('th', { scope: 'col' }, t),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              ...jobs.map((job) =>
                h(
                  'tr',
                  { 'data-job-id': job.id },
                  h('td', {}, job.id),
                  h('td', {}, job.type),
                  h('td', {}, `${job.attempts} of ${job.maxAttempts}`),
                  h('td', {}, job.finishedAt ? clock(job.finishedAt) : ''),
                  h('td', {}, job.lastError ?? ''),
                  h(
                    'td',
                    {},
                    h(
                      'button',
                      {
                        type: 'button',
                        'aria-label': `Redrive ${job.id}`,
                        onclick: () => void act(job, 'redrive'),
                      },
                      'Redrive',
                    ),
                    ' ',
                    h(
                      'button',
                      {
                        type: 'button',
                        class: 'danger',
                        'aria-label': `Drop ${job.id}`,
                        onclick: () => void act(job, 'drop'),
                      },
                      'Drop',
                    ),
                  ),
                ),
              ),
            ),
          ),
    );
  }

  replace(
    byId('queue'),
    h('h2', { id: 'queue-title' }, 'Queue'),
    h('button', { type: 'button', onclick: () => void refresh() }, 'Refresh'),
    overview,
    h('h3', {}, 'Scheduler'),
    schedules,
    status,
    h('h3', {}, 'Dead letters'),
    h(
      'form',
      {
        class: 'controls',
        onsubmit: (event) => {
          event.preventDefault();
          tenant = fields(event.currentTarget as HTMLFormElement).tenant ?? tenant;
          void refresh();
        },
      },
      tenantField(stack, 'queue-tenant'),
      h('button', { type: 'submit' }, 'Show dead letters'),
    ),
    dead,
  );
  return { refresh };
}
