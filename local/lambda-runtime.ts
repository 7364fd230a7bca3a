import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * What the local stack needs of the Lambda runtime: a `Context` whose remaining time counts down
 * from the function's timeout, and an invocation that gives up at that timeout as Lambda does.
 */

/** A Lambda handler as the local stack calls it. */
export type LocalHandler<E = unknown, R = unknown> = (event: E, context: Context) => Promise<R>;

/** The `Context` of one invocation of `functionName` with `timeoutMs` to run. */
export function localContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = () => {
    throw new Error('callback-style context methods are not supported by the local stack');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/** The invocation ran past its function's timeout. */
export class InvocationTimeoutError extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName} timed out after ${timeoutMs} ms`);
    this.name = 'InvocationTimeoutError';
  }
}

/**
 * Invokes `handler` as Lambda would: a fresh context, and an {@link InvocationTimeoutError} when
 * it runs past `timeoutMs` (the handler's own work is not stopped, as in a frozen container).
 */
export async function invoke<E, R>(
  functionName: string,
  handler: LocalHandler<E, R>,
  event: E,
  timeoutMs: number,
): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InvocationTimeoutError(functionName, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([handler(event, localContext(functionName, timeoutMs)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
