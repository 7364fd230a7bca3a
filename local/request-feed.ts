import type { LocalApp } from './app';
import type { DatabaseCost, RequestRecord } from './console/wire';
import type { GatewayRequest } from './http-gateway';
import { type TaggedLine, tapOutput } from './output-tap';
import { parseTag, type RequestTag, tagValue } from './request-tags';
import type { ScheduledRun } from './scheduler';
import type { ServedRequest } from './upstash/server';

/**
 * The request log of the local stack (the console's live log, `npm start`'s short lines): each HTTP request and scheduled run with what it cost in Upstash
 * commands, round trips and billed commands (as the endpoint counted them under the request's
 * tag, per database) and the log lines it wrote. Subscribers get each record as it completes and
 * again when a late cost or line arrives.
 */

export type { DatabaseCost, RequestRecord } from './console/wire';

/** A change of the log. */
export type FeedEvent = { readonly type: 'request' | 'update'; readonly record: RequestRecord };

interface Pending {
  byDatabase: Record<string, DatabaseCost>;
  lines: string[];
  record?: RequestRecord;
}

/** Records kept, and work in progress followed, at most. */
const KEEP = 500;
/** Lines kept per request, and characters per line, at most. */
const MAX_LINES = 200;
const MAX_LINE_CHARS = 8_192;

const zero = (): DatabaseCost => ({ commands: 0, roundTrips: 0, billed: 0 });

function total(byDatabase: Record<string, DatabaseCost>): DatabaseCost {
  const sum = zero();
  for (const cost of Object.values(byDatabase)) {
    sum.commands += cost.commands;
    sum.roundTrips += cost.roundTrips;
    sum.billed += cost.billed;
  }
  return sum;
}

/** The log; see the module's comment. */
export class RequestFeed {
  readonly #work = new Map<string, Pending>();
  readonly #records: RequestRecord[] = [];
  readonly #subscribers = new Set<(event: FeedEvent) => void>();

  /** @param databaseName the name of the endpoint's database number `n` */
  constructor(private readonly databaseName: (index: number) => string) {}

  /** The latest records, oldest first. */
  records(): readonly RequestRecord[] {
    return this.#records;
  }

  /** The lines a record's work wrote, or undefined when it is no longer kept. */
  lines(id: string): readonly string[] | undefined {
    for (const kind of ['api', 'scheduled'] as const) {
      const pending = this.#work.get(tagValue({ kind, id }));
      if (pending) return pending.lines;
    }
    return undefined;
  }

  subscribe(subscriber: (event: FeedEvent) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** A request the endpoint served: its cost goes to the work of its tag. */
  served(served: ServedRequest): void {
    const tag = parseTag(served.tag);
    if (!tag || tag.kind === 'console') return;
    const pending = this.#pending(tag);
    const name = this.databaseName(served.database);
    pending.byDatabase[name] ??= zero();
    const cost = pending.byDatabase[name];
    cost.commands += served.commands;
    cost.billed += served.billed;
    cost.roundTrips += 1;
    if (pending.record) this.#update(pending, { ...pending.record });
  }

  /** A line written by tagged work. */
  line(line: TaggedLine): void {
    if (line.tag.kind === 'console') return;
    const pending = this.#pending(line.tag);
    if (pending.lines.length >= MAX_LINES) return;
    pending.lines.push(
      line.text.length > MAX_LINE_CHARS ? `${line.text.slice(0, MAX_LINE_CHARS)}…` : line.text,
    );
    if (pending.record) this.#update(pending, { ...pending.record });
  }

  /** An HTTP request was answered. */
  request(request: GatewayRequest): void {
    const pending = this.#pending({ kind: 'api', id: request.id });
    this.#complete(pending, {
      id: request.id,
      kind: 'api',
      at: request.startedAt,
      method: request.method,
      path: request.path,
      route: request.routeKey,
      status: request.status,
      ms: request.ms,
    });
  }

  /** A scheduled run ended. */
  scheduled(run: ScheduledRun): void {
    const pending = this.#pending({ kind: 'scheduled', id: run.id });
    this.#complete(pending, {
      id: run.id,
      kind: 'scheduled',
      at: run.startedAt,
      method: 'RUN',
      path: run.job,
      route: 'scheduled',
      status: run.ok ? 200 : 500,
      ms: run.ms,
      ...(run.error ? { error: run.error } : {}),
    });
  }

  #pending(tag: RequestTag): Pending {
    const key = tagValue(tag);
    let pending = this.#work.get(key);
    if (!pending) {
      pending = { byDatabase: {}, lines: [] };
      this.#work.set(key, pending);
      // Oldest first out: a Map keeps insertion order.
      if (this.#work.size > KEEP * 2) this.#work.delete(this.#work.keys().next().value as string);
    }
    return pending;
  }

  #complete(pending: Pending, base: Omit<RequestRecord, 'cost' | 'byDatabase' | 'lines'>): void {
    const record = this.#snapshot(pending, base);
    pending.record = record;
    this.#records.push(record);
    if (this.#records.length > KEEP) this.#records.shift();
    this.#emit({ type: 'request', record });
  }

  #update(pending: Pending, base: RequestRecord): void {
    const record = this.#snapshot(pending, base);
    pending.record = record;
    const at = this.#records.findIndex((r) => r.id === record.id);
    if (at !== -1) this.#records[at] = record;
    this.#emit({ type: 'update', record });
  }

  #snapshot(pending: Pending, base: Omit<RequestRecord, 'cost' | 'byDatabase' | 'lines'>): RequestRecord {
    const byDatabase = structuredClone(pending.byDatabase);
    return { ...base, cost: total(byDatabase), byDatabase, lines: pending.lines.length };
  }

  #emit(event: FeedEvent): void {
    for (const subscriber of this.#subscribers) subscriber(event);
  }
}

/**
 * A feed that follows `app` from now on: the endpoint's costs, the gateway's requests, the
 * scheduled runs and the lines the handlers write. `stop()` lets go of all of them.
 */
export function followApp(app: LocalApp): { feed: RequestFeed; stop(): void } {
  const names = Object.keys(app.tokens);
  const feed = new RequestFeed((index) => names[index] ?? `#${index}`);
  const stops = [
    app.upstash.observe((served) => feed.served(served)),
    tapOutput({ onLine: (line) => feed.line(line) }),
    app.observe({ request: (r) => feed.request(r), scheduled: (r) => feed.scheduled(r) }),
  ];
  return {
    feed,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}
