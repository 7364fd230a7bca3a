import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';

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
 * from a real deadline, so handlers that budget their time can be tested against the clock.
 */
export function lambdaContext(options: LambdaContextOptions = {}): Context {
  const functionName = options.functionName ?? 'test-function';
  const deadline = Date.now() + (options.remainingMs ?? 60_000);
  const fail = () => {
    throw new Error('the callback-style context methods are not used by these handlers');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/11/23/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: fail,
    fail,
    succeed: fail,
  };
}

/**
 * The event EventBridge Scheduler sends to a job function: the schedule's input as set in
 * `lib/constructs/scheduled-job.ts`, with the `<aws.scheduler.*>` context attributes filled in.
 * Extra fields (overrides a schedule's input may carry) are merged in.
 */
export function schedulerEvent(
  job: 'queue-worker' | 'maintenance',
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const fixture = new URL(`../fixtures/events/scheduler-${job}.json`, import.meta.url);
  const event = JSON.parse(readFileSync(fixture, 'utf8')) as Record<string, unknown>;
  return { ...event, scheduledTime: new Date().toISOString(), executionId: randomUUID(), ...overrides };
}
