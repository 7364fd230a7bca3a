import { Duration, Stack } from 'aws-cdk-lib';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import {
  ContextAttribute,
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
} from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke, type ScheduleTargetBaseProps } from 'aws-cdk-lib/aws-scheduler-targets';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of a {@link ScheduledJob}. */
export interface ScheduledJobProps {
  /** The function the schedule invokes (asynchronously). */
  readonly function: IFunction;
  /** A Scheduler expression: `rate(1 minute)`, `rate(15 minutes)`, `cron(0 3 * * ? *)`. */
  readonly schedule: string;
  /** Queue that receives the invocations the Scheduler could not deliver after every retry. */
  readonly deadLetterQueue: IQueue;
  /**
   * Name of the job, sent in the event as `job`.
   *
   * @default - the construct id
   */
  readonly jobName?: string;
  /**
   * Retries of an invocation the Scheduler could not deliver.
   *
   * @default 2
   */
  readonly retryAttempts?: number;
  /**
   * How long the Scheduler keeps retrying one invocation; a job that runs again on the next tick
   * has no use for an old one.
   *
   * @default Duration.minutes(5)
   */
  readonly maxEventAge?: Duration;
  /**
   * Description of the schedule.
   *
   * @default - names the job and its expression
   */
  readonly description?: string;
}

/**
 * An EventBridge Scheduler schedule that invokes a Lambda function with its own role, an
 * explicit retry policy and a dead-letter queue.
 *
 * The event is `{"source":"scheduler","job":"<jobName>","scheduledTime":"<ISO time>","executionId":"<id>"}`;
 * `executionId` is stable across the Scheduler's retries, so handlers can use it as an idempotency key.
 *
 * @example
 * new ScheduledJob(this, 'QueueWorker', { function: fn, schedule: 'rate(1 minute)', deadLetterQueue: dlq });
 */
export class ScheduledJob extends Construct {
  /** The schedule. */
  readonly schedule: Schedule;
  /** The role the Scheduler assumes to invoke the function. */
  readonly role: IRole;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    const jobName = props.jobName ?? id;
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: `Lets EventBridge Scheduler invoke the ${jobName} job`,
    });
    this.schedule = new Schedule(this, 'Resource', {
      schedule: ScheduleExpression.expression(props.schedule),
      description: props.description ?? `Runs the ${jobName} job on ${props.schedule}`,
      target: new ExactLambdaInvoke(props.function, {
        role: this.role,
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: props.retryAttempts ?? 2,
        maxEventAge: props.maxEventAge ?? Duration.minutes(5),
        input: ScheduleTargetInput.fromObject({
          source: 'scheduler',
          job: jobName,
          scheduledTime: ContextAttribute.scheduledTime,
          executionId: ContextAttribute.executionId,
        }),
      }),
    });
  }
}

/**
 * `LambdaInvoke` grants `lambda:InvokeFunction` on the function and on `<arn>:*` (every version
 * and alias). The schedule invokes the unqualified function only, so grant exactly that ARN.
 */
class ExactLambdaInvoke extends LambdaInvoke {
  readonly #fn: IFunction;

  constructor(fn: IFunction, props: ScheduleTargetBaseProps) {
    super(fn, props);
    this.#fn = fn;
  }

  protected override addTargetActionToRole(role: IRole): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.#fn.functionArn] }),
    );
  }
}
