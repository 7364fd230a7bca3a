import { ValidationError } from '../../shared/errors';
import type { Job } from './queue';

/** What a job handler gets besides the job. */
export interface JobContext {
  /**
   * Aborts when the worker must stop (its invocation is about to end). A handler that stops early
   * should throw, so the job is retried rather than acked half done.
   */
  readonly signal: AbortSignal;
}

/**
 * Runs one delivery of a job. Resolving acks it; throwing fails it (retried with backoff, then
 * dead-lettered). Delivery is at least once, so a handler must be safe to run twice.
 */
export type JobHandler = (job: Job, context: JobContext) => Promise<void>;

/**
 * Job types and their handlers. Built-ins are registered by `registerBuiltinJobs`; users add
 * their own with {@link JobRegistry.register}.
 *
 * @example
 * const registry = new JobRegistry().register('email.send', async (job, { signal }) => {
 *   await sendEmail(job.payload as Email, { signal });
 * });
 */
export class JobRegistry {
  readonly #handlers = new Map<string, JobHandler>();

  /** Adds a handler; registering a type twice is a mistake and throws. */
  register(type: string, handler: JobHandler): this {
    if (this.#handlers.has(type)) throw new ValidationError(`job type "${type}" is already registered`);
    this.#handlers.set(type, handler);
    return this;
  }

  /** The handler of `type`, or `undefined` when none is registered. */
  get(type: string): JobHandler | undefined {
    return this.#handlers.get(type);
  }

  /** The registered types. */
  types(): string[] {
    return [...this.#handlers.keys()];
  }
}
