import { RuntimeConfigSchema, validate } from '../../lambda/shared/config';
import { DEFAULT_PLAN, PLAN_PRESETS } from '../../lib/plans';
import type { LocalApp } from '../app';
import type { RequestFeed } from '../request-feed';
import { DataBrowser, SPACES } from './data';
import { DatabaseMetrics } from './metrics';
import { ConsoleOperations } from './operations';
import { ConsoleServer, type ConsoleServerOptions } from './server';
import { RestDatabase } from './upstash-rest';

/**
 * The local console: a page served by `npm start` on a port of its own that shows what each
 * request costs in Upstash commands and what the databases hold (docs/local.md, "The console").
 * Dev tooling: nothing under `lambda/` or `lib/` imports it, so no Lambda bundle carries it.
 */

/** A running console. */
export interface LocalConsole {
  readonly url: string;
  readonly server: ConsoleServer;
  stop(): Promise<void>;
}

/** How often the page gets the databases' figures, and how often keys and memory are read. */
const METRICS_EVERY_MS = 1_000;
const SAMPLE_EVERY_MS = 5_000;

/** Options of {@link startConsole}. */
export interface ConsoleOptions extends ConsoleServerOptions {
  /** The app's request log (`followApp` in local/request-feed.ts). */
  readonly feed: RequestFeed;
}

/** Starts the console for `app`. */
export async function startConsole(app: LocalApp, options: ConsoleOptions): Promise<LocalConsole> {
  const { feed } = options;
  const names = Object.keys(app.tokens);
  const databases = names.map((name) => new RestDatabase(name, app.upstashUrl, app.tokens[name] as string));
  const config = validate(
    RuntimeConfigSchema,
    JSON.parse(app.env.APP_CONFIG ?? '{}'),
    'APP_CONFIG',
    (lines) => new Error(lines.join('\n')),
  );
  const metrics = new DatabaseMetrics(
    names.map((name) => ({ name, plan: PLAN_PRESETS[DEFAULT_PLAN], ...(app.config.databases[name] ?? {}) })),
  );
  const dbOf = (feature: keyof typeof app.config.features) =>
    databases.find((db) => db.name === app.config.features[feature]);
  const operations = new ConsoleOperations({
    keyPrefix: app.keyPrefix,
    config,
    upstashUrl: app.upstashUrl,
    tokenOf: (feature) => {
      const db = app.config.features[feature];
      const token = db ? app.tokens[db] : undefined;
      if (!token) throw new Error(`no database serves ${feature}`);
      return token;
    },
    schedules: () => app.scheduler.states(),
    runNow: async (job) => {
      const run = await app.scheduler.runNow(job);
      return { ok: run.ok, ms: run.ms, ...(run.error ? { error: run.error } : {}) };
    },
    forgetBlocked: () => app.resetApiServices(),
  });
  const state = {
    feed,
    metrics,
    data: new DataBrowser(app.keyPrefix, dbOf),
    operations,
    spaces: Object.entries(SPACES)
      .filter(([, feature]) => feature !== undefined && dbOf(feature))
      .map(([space]) => space),
  };

  const stops: Array<() => unknown> = [];
  stops.push(app.upstash.observe((served) => metrics.served(served)));
  // Figures for the page while it is open; keys and memory less often (they cost commands), and
  // at once when a page opens.
  let sampling = false;
  const sample = () => {
    if (server.streams === 0 || sampling) return;
    sampling = true;
    metrics
      .sample(databases)
      .catch(() => {})
      .finally(() => {
        sampling = false;
      });
  };
  const server = await ConsoleServer.start(app, state, { ...options, onStream: () => setImmediate(sample) });
  stops.push(feed.subscribe((event) => server.broadcast(event.type, event.record)));
  const figures = setInterval(() => {
    if (server.streams > 0) server.broadcast('metrics', metrics.snapshot());
  }, METRICS_EVERY_MS);
  const sampler = setInterval(sample, SAMPLE_EVERY_MS);
  figures.unref();
  sampler.unref();
  stops.push(() => {
    clearInterval(figures);
    clearInterval(sampler);
  });

  let stopped = false;
  return {
    url: server.url,
    server,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const stop of stops.reverse()) stop();
      await server.close();
    },
  };
}
