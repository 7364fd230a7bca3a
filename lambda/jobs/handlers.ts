import type { JobRegistry } from '../services/queue/registry';

/**
 * Registers the handlers of the app's own job types (`./types.ts`) with the queue worker's
 * registry. A handler gets the payload as its type's definition checked it, and what it returns is
 * kept as the job's `result`.
 *
 * @example
 * import { EMAIL_JOB } from './types';
 *
 * export function registerAppJobs(registry: JobRegistry): JobRegistry {
 *   return registry.register(EMAIL_JOB, async (job, { signal }) => ({
 *     messageId: await sendEmail(job.payload, { signal }),
 *   }));
 * }
 */
export function registerAppJobs(registry: JobRegistry): JobRegistry {
  return registry;
}
