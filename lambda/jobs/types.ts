import type { JobType } from '../services/queue/job-types';

/**
 * The app's own job types: what `POST /jobs` may enqueue besides the built-ins, each with the
 * scope a key needs and its payload check. Both functions read this list: the api function checks
 * an enqueue against it, the queue worker runs each type with the handler `./handlers.ts`
 * registers (a type without one stops the worker at its cold start). No handler code here: the
 * api function loads this module and stays small.
 *
 * @example
 * import * as v from 'valibot';
 * import { defineJobType, payloadOf } from '../services/queue/job-types';
 * import { fields } from '../shared/validation';
 *
 * export const EMAIL_JOB = defineJobType({
 *   type: 'email.send',
 *   scope: 'jobs',
 *   summary: 'sends one email',
 *   payload: payloadOf(fields({ to: v.pipe(v.string(), v.email()), subject: v.string() }, 'the payload')),
 * });
 * export const APP_JOB_TYPES: readonly JobType<unknown>[] = [EMAIL_JOB];
 */
export const APP_JOB_TYPES: readonly JobType<unknown>[] = [];
