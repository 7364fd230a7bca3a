import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { localContext } from '../../local/lambda-runtime';

/** Options of {@link lambdaContext}. */
export interface LambdaContextOptions {
  /**
   * Time left in the invocation, in ms, counted from when the context is made.
   * @default 60_000
   */
  readonly remainingMs?: number;
  /** @default 'test-function' */
  readonly functionName?: string;
}

/**
 * A Lambda `Context` as the runtime passes it, whose `getRemainingTimeInMillis()` counts down
 * from a real deadline, so handlers that budget their time can be tested against the clock. The
 * same one the local stack gives its handlers.
 */
export function lambdaContext(options: LambdaContextOptions = {}): Context {
  return localContext(options.functionName ?? 'test-function', options.remainingMs ?? 60_000);
}

/**
 * The event EventBridge Scheduler sends to a job function: the schedule's input as set in
 * `lib/constructs/scheduled-job.ts`, with the `<aws.scheduler.*>` context attributes filled in.
 * Extra fields (overrides a schedule's input may carry) are merged in.
 */
export function schedulerEvent(
  job: 'queue-worker' | 'maintenance' | 'usage-probe',
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const fixture = new URL(`../../local/events/${job}.json`, import.meta.url);
  const event = JSON.parse(readFileSync(fixture, 'utf8')) as Record<string, unknown>;
  return { ...event, scheduledTime: new Date().toISOString(), executionId: randomUUID(), ...overrides };
}
