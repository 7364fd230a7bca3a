import { createHash } from 'node:crypto';
import { JobQueue, type JobStatus, type StateCounts } from '../../lambda/services/queue/queue';
import { RateLimiter, type RateLimitResult } from '../../lambda/services/rate-limit/rate-limiter';
import { SessionService } from '../../lambda/services/sessions/session-service';
import { createClient } from '../../lambda/shared/client';
import type { Feature, RuntimeConfig } from '../../lambda/shared/config';
import { KeyBuilder } from '../../lambda/shared/keys';
import { withTag } from '../request-tags';
import type { ScheduleState } from '../scheduler';

/**
 * What the console does to the stack's data: through the services' public methods, with clients
 * of their own on the same databases (tagged as the console's work), for one tenant at a time.
 */

/** A session as the console lists it: never its id, which is the bearer credential. */
export interface SessionRow {
  /** A handle for revoking it: a hash of the id. */
  readonly ref: string;
  /** The id's first characters, to tell sessions apart. */
  readonly shortId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly idleExpiresAt: number;
  readonly fields: readonly string[];
}

/** The queue at a glance. */
export interface QueueOverview {
  readonly counts: Readonly<Record<string, StateCounts>>;
  readonly truncated: boolean;
}

const ref = (id: string): string => createHash('sha256').update(id).digest('base64url').slice(0, 16);

/** Runs the console's service calls as its own tagged work. */
const asConsole = <T>(fn: () => Promise<T>): Promise<T> => withTag({ kind: 'console', id: 'console' }, fn);

/** The services the console acts through; built on first use. */
export class ConsoleOperations {
  #services:
    | Promise<{ limiters: Map<string, RateLimiter>; queue: JobQueue; sessions: SessionService }>
    | undefined;

  constructor(
    private readonly options: {
      readonly keyPrefix: string;
      readonly config: RuntimeConfig;
      readonly upstashUrl: string;
      /** The token of the database serving each feature. */
      readonly tokenOf: (feature: Feature) => string;
      readonly schedules: () => ScheduleState[];
      readonly runNow: (job: string) => Promise<{ ok: boolean; ms: number; error?: string }>;
      /** Makes the api function forget the identifiers it remembers as blocked (`LocalApp.resetApiServices`). */
      readonly forgetBlocked: () => void;
    },
  ) {}

  #build() {
    this.#services ??= (async () => {
      const { config, upstashUrl, tokenOf } = this.options;
      const keys = new KeyBuilder(this.options.keyPrefix);
      // One client per database, as the functions share theirs.
      const clients = new Map<string, ReturnType<typeof createClient>>();
      const client = (feature: Feature) => {
        const token = tokenOf(feature);
        let made = clients.get(token);
        if (!made) {
          made = createClient({ url: upstashUrl, token, name: feature });
          clients.set(token, made);
        }
        return made;
      };
      const limitRedis = await client('rateLimit');
      const limiters = new Map<string, RateLimiter>();
      for (const [name, limit] of Object.entries(config.rateLimits)) {
        limiters.set(name, new RateLimiter({ redis: limitRedis, keys, name, ...limit, blockedCacheSize: 0 }));
      }
      return {
        limiters,
        queue: new JobQueue({ redis: await client('queue'), keys }),
        sessions: new SessionService({ redis: await client('sessions'), keys, ...config.sessions }),
      };
    })();
    return this.#services;
  }

  /** The configured limiters' names. */
  limiterNames(): string[] {
    return Object.keys(this.options.config.rateLimits);
  }

  async #limiter(name: string): Promise<RateLimiter> {
    const limiter = (await this.#build()).limiters.get(name);
    if (!limiter) throw new Error(`no rate limit named "${name}" is configured`);
    return limiter;
  }

  /** A limiter's state for an identifier of the tenant, without taking anything. */
  peekLimit(tenant: string, name: string, identifier: string): Promise<RateLimitResult> {
    return asConsole(async () => (await this.#limiter(name)).peek(tenant, identifier));
  }

  /**
   * Clears a limiter's state for an identifier: its next request starts afresh. The api function
   * remembers refused identifiers until their window resets (a cache that saves a command per
   * refusal), so it is told to forget them too: the local stack is its one container.
   */
  resetLimit(tenant: string, name: string, identifier: string): Promise<void> {
    return asConsole(async () => {
      await (await this.#limiter(name)).reset(tenant, identifier);
      this.options.forgetBlocked();
    });
  }

  /** Counts per type and state, every tenant's. */
  queue(): Promise<QueueOverview> {
    return asConsole(async () => (await this.#build()).queue.countsByType());
  }

  /** The tenant's dead letters, newest first (100 at most). */
  deadLetters(tenant: string): Promise<readonly JobStatus[]> {
    return asConsole(
      async () => (await (await this.#build()).queue.list(tenant, { state: 'dead', limit: 100 })).jobs,
    );
  }

  /** Gives a dead letter of the tenant a new run. */
  redrive(tenant: string, id: string) {
    return asConsole(async () => (await this.#build()).queue.redrive(tenant, id));
  }

  /** Drops a dead letter of the tenant for good. */
  drop(tenant: string, id: string) {
    return asConsole(async () => (await this.#build()).queue.drop(tenant, id));
  }

  /** The schedules and their next runs. */
  schedules(): ScheduleState[] {
    return this.options.schedules();
  }

  /** Runs a scheduled function now. */
  runNow(job: string) {
    return this.options.runNow(job);
  }

  /** A user's live sessions in the tenant. */
  sessions(tenant: string, userId: string): Promise<SessionRow[]> {
    return asConsole(async () =>
      (await (await this.#build()).sessions.list(tenant, userId)).map((s) => ({
        ref: ref(s.id),
        shortId: `${s.id.slice(0, 6)}…`,
        createdAt: s.createdAt,
        expiresAt: s.expiresAt,
        idleExpiresAt: s.idleExpiresAt,
        fields: Object.keys(s.data),
      })),
    );
  }

  /** Revokes one of the user's sessions (by its {@link SessionRow.ref}), or all of them. */
  revoke(tenant: string, userId: string, sessionRef?: string): Promise<number> {
    return asConsole(async () => {
      const { sessions } = await this.#build();
      if (sessionRef === undefined) return sessions.revokeAll(tenant, userId);
      const session = (await sessions.list(tenant, userId)).find((s) => ref(s.id) === sessionRef);
      return session && (await sessions.destroy(tenant, session.id)) ? 1 : 0;
    });
  }
}
