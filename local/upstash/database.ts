import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type CommandScope, commandName, type Plan, planCommand, type Send } from './commands';
import { countRead, type RequestCost } from './cost';
import type { PubSubHub } from './pubsub';
import {
  encodeCommand,
  RedisUnavailableError,
  type Reply,
  RespConnection,
  RespError,
  type RespTarget,
} from './resp';
import { scriptReply } from './sandbox';
import { ScriptCache } from './scripts';

/** What one database has served: HTTP round trips and top-level commands. */
export interface EndpointStats {
  requests: number;
  commands: number;
  byCommand: Record<string, number>;
  /**
   * Commands the endpoint answered itself, without Redis (a NOSCRIPT for a script this database
   * never loaded, a refusal, `COPY k k`). Upstash bills every command it receives, so a count of
   * billed commands taken from Redis's `INFO commandstats` must add these.
   */
  answeredLocally: number;
  /**
   * What Upstash bills: every command, plus every command the scripts among them ran (as Redis's
   * `INFO commandstats` counts them), the ones answered locally included.
   */
  billed: number;
}

/** Zeroed counters. */
export const emptyStats = (): EndpointStats => ({
  requests: 0,
  commands: 0,
  byCommand: {},
  answeredLocally: 0,
  billed: 0,
});

/** A sandboxed script's reply without its call count; the count goes to the database's and `cost`'s. */
function unwrapScript(stats: EndpointStats, raw: Reply, cost: RequestCost | undefined): Reply {
  const { reply, calls } = scriptReply(raw);
  stats.billed += calls;
  if (cost) cost.billed += calls;
  return reply as Reply;
}

/**
 * The most commands, and the most encoded characters, written to Redis in one go for one
 * request. A longer pipeline goes in slices, one after the other, and the event loop is let go
 * between slices: another client's request waits for at most one slice, in the endpoint and in
 * Redis (a slice of 1,000 small commands is about a millisecond of Redis time).
 */
export const SLICE_COMMANDS = 1000;
export const SLICE_CHARS = 512 * 1024;

/** Commands counted between two yields to the event loop. */
const COUNT_SLICE = 20_000;

/** A transaction this long runs on a connection of its own, written in slices (see below). */
const LARGE_TRANSACTION = SLICE_COMMANDS;

/** A transaction Redis or the endpoint discarded as a whole: one error, nothing applied. */
export class TransactionDiscarded extends Error {}

/** One emulated Upstash database: a token, a Redis database index, its scripts and channels. */
export class Database {
  readonly connection: RespConnection;
  readonly scope: CommandScope;
  stats: EndpointStats = emptyStats();
  #sync = 0;

  constructor(
    public token: string,
    readonly target: RespTarget,
    readonly hub: PubSubHub,
  ) {
    this.connection = new RespConnection(target);
    this.scope = { db: target.db, scripts: new ScriptCache(target.db), channels: hub.scope(target.db) };
  }

  get index(): number {
    return this.target.db;
  }

  /** A value for `upstash-sync-token` that changes on every successful response. */
  nextSyncToken(): string {
    this.#sync += 1;
    return String(this.#sync);
  }

  /** Counts a request and its commands (in slices for a long pipeline). */
  async count(commands: readonly (readonly string[])[], cost?: RequestCost): Promise<void> {
    const { stats } = this;
    stats.requests += 1;
    stats.commands += commands.length;
    stats.billed += commands.length;
    if (cost) {
      cost.commands += commands.length;
      cost.billed += commands.length;
    }
    for (let i = 0; i < commands.length; i++) {
      const name = commandName((commands[i] as readonly string[])[0] as string);
      stats.byCommand[name] = (stats.byCommand[name] ?? 0) + 1;
      if (i % COUNT_SLICE === COUNT_SLICE - 1) await yieldToLoop();
    }
  }

  /** Sends commands as one write and resolves with their replies. */
  readonly send: Send = (commands) =>
    this.connection.send(commands.map(encodeCommand).join(''), commands.length);

  /**
   * Runs a single command or a pipeline, in order, and returns one reply per command (errors in
   * place, as {@link RespError}). Rejects only when Redis is unavailable.
   */
  async pipeline(commands: readonly (readonly string[])[], cost?: RequestCost): Promise<Reply[]> {
    const replies: Reply[] = new Array(commands.length);
    // Per slice: where each reply goes, and the reply's rewrite when it has one.
    const index: number[] = [];
    const posts: Array<((reply: Reply) => Reply) | undefined> = [];
    const scripts: boolean[] = [];
    let i = 0;
    while (i < commands.length) {
      let payload = '';
      index.length = 0;
      posts.length = 0;
      scripts.length = 0;
      while (i < commands.length && index.length < SLICE_COMMANDS && payload.length < SLICE_CHARS) {
        const args = commands[i] as readonly string[];
        const plan = planCommand(this.scope, args);
        if (plan === undefined) {
          payload += encodeCommand(args);
          index.push(i);
          posts.push(undefined);
          scripts.push(false);
        } else if (plan.kind === 'send') {
          payload += encodeCommand(plan.args);
          index.push(i);
          posts.push(plan.post);
          scripts.push(plan.script === true);
        } else if (plan.kind === 'steps') {
          if (index.length > 0) break;
          replies[i] = await plan.run(this.send);
        } else {
          replies[i] = resolvedReply(plan);
          this.stats.answeredLocally += 1;
        }
        i += 1;
      }
      if (index.length > 0) {
        const got = await this.connection.send(payload, index.length);
        for (let j = 0; j < index.length; j++) {
          const post = posts[j];
          const raw = scripts[j] ? unwrapScript(this.stats, got[j] as Reply, cost) : (got[j] as Reply);
          replies[index[j] as number] = post ? post(raw) : raw;
        }
      }
      // Let other requests in before the next slice.
      if (i < commands.length) await yieldToLoop();
    }
    if (cost) countReads(commands, replies, cost);
    return replies;
  }

  /**
   * MULTI ... EXEC: all or nothing, isolated from every other request. A command the endpoint
   * refuses discards the transaction before Redis sees any of it, as Upstash discards a
   * transaction holding an unsupported command.
   */
  async transaction(commands: readonly (readonly string[])[], cost?: RequestCost): Promise<Reply[]> {
    const plans: Array<Exclude<Plan, { kind: 'steps' }> | undefined> = new Array(commands.length);
    const sent: Array<readonly string[]> = [];
    for (let i = 0; i < commands.length; i++) {
      const args = commands[i] as readonly string[];
      const plan = planCommand(this.scope, args);
      if (plan?.kind === 'refuse') throw new TransactionDiscarded(plan.message);
      if (plan?.kind === 'steps') {
        throw new TransactionDiscarded(
          `ERR ${args.slice(0, 2).join(' ').toUpperCase()} is not supported in a transaction by the local endpoint`,
        );
      }
      plans[i] = plan;
      if (plan === undefined) sent.push(args);
      else if (plan.kind === 'send') sent.push(plan.args);
      if (i % SLICE_COMMANDS === SLICE_COMMANDS - 1) await yieldToLoop();
    }
    const exec =
      sent.length >= LARGE_TRANSACTION
        ? await this.#largeTransaction(sent)
        : await this.#smallTransaction(sent);
    if (exec instanceof RespError) throw new TransactionDiscarded(exec.message);
    if (!Array.isArray(exec))
      throw new TransactionDiscarded('EXECABORT Transaction discarded because of previous errors.');
    let next = 0;
    const replies = plans.map((plan) => {
      if (plan === undefined) return exec[next++] as Reply;
      if (plan.kind !== 'send') return resolvedReply(plan);
      const raw = exec[next++] as Reply;
      const reply = plan.script ? unwrapScript(this.stats, raw, cost) : raw;
      return plan.post ? plan.post(reply) : reply;
    });
    if (cost) countReads(commands, replies, cost);
    return replies;
  }

  /** MULTI, the commands and EXEC in one write on the shared connection: nothing can come between. */
  async #smallTransaction(commands: readonly (readonly string[])[]): Promise<Reply> {
    let payload = encodeCommand(['MULTI']);
    for (const args of commands) payload += encodeCommand(args);
    payload += encodeCommand(['EXEC']);
    const replies = await this.connection.send(payload, commands.length + 2);
    return replies[replies.length - 1] ?? null;
  }

  /**
   * A long transaction on a connection of its own: written slice by slice with the event loop let
   * go in between (so encoding it holds no other request), while no other request's command can
   * land inside it. Redis runs it atomically at EXEC, as it must.
   */
  async #largeTransaction(commands: readonly (readonly string[])[]): Promise<Reply> {
    const connection = new RespConnection(this.target);
    await connection.connect().catch((error: Error) => {
      throw new RedisUnavailableError(`ERR Redis is unavailable: ${error.message}`);
    });
    try {
      const pending: Promise<Reply[]>[] = [connection.send(encodeCommand(['MULTI']), 1)];
      for (let i = 0; i < commands.length; i += SLICE_COMMANDS) {
        const slice = commands.slice(i, i + SLICE_COMMANDS);
        pending.push(connection.send(slice.map(encodeCommand).join(''), slice.length));
        await yieldToLoop();
      }
      pending.push(connection.send(encodeCommand(['EXEC']), 1));
      const replies = await Promise.all(pending);
      return replies[replies.length - 1]?.[0] ?? null;
    } finally {
      connection.close();
    }
  }
}

const resolvedReply = (plan: Exclude<Plan, { kind: 'send' | 'steps' }>): Reply =>
  plan.kind === 'local' ? plan.reply : new RespError(plan.message);

/** The hits and misses of a request's key reads (a long pipeline: a few ms, once, at its end). */
function countReads(
  commands: readonly (readonly string[])[],
  replies: readonly Reply[],
  cost: RequestCost,
): void {
  for (let i = 0; i < commands.length; i++) {
    countRead(commandName((commands[i] as readonly string[])[0] as string), replies[i] ?? null, cost);
  }
}
