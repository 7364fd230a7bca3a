import type * as v from 'valibot';
import type { EnqueueResult, JobActionResult, Priority } from '../../services/queue/queue';
import type * as S from '../../shared/api-schemas';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors';
import { type HttpResponse, json } from '../../shared/http';
import { actionableTypes, param, type RouteContext, type RouteHandler } from './context';

/** Length of a job id: the request token's first 22 characters make one. */
const JOB_ID_LENGTH = 22;

/**
 * Enqueues a job for the caller: its type must be known, allowed to the caller's scopes and its
 * payload valid (checked by the type's definition, the one the worker runs it with). Under an
 * `Idempotency-Key` the job's id is the request's token and, when `answer` is given, the answer
 * is stored with the job in the enqueue's own script.
 */
export async function enqueueJob(
  ctx: RouteContext,
  type: string,
  payload: unknown,
  options: { priority?: Priority; delayMs?: number; maxAttempts?: number; idempotencyKey?: string } = {},
  answer?: (result: EnqueueResult) => HttpResponse,
): Promise<EnqueueResult> {
  const checked = ctx.services.jobTypes.authorize(type, ctx.scopes, payload);
  const receipt = answer ? ctx.receipt('queue', answer) : undefined;
  return ctx.services.queue.enqueue(
    { tenant: ctx.tenant, type, payload: checked.payload, ...options },
    {
      settleBy: ctx.settleBy,
      ...(ctx.token !== undefined ? { id: ctx.token.slice(0, JOB_ID_LENGTH) } : {}),
      ...(receipt ? { receipt } : {}),
    },
  );
}

/** The answer of a cancel or redrive: the job, or why not. */
function acted(result: JobActionResult, action: string): HttpResponse {
  if (result.ok) return json(200, result.job);
  if (result.reason === 'not-found') throw new NotFoundError('no such job');
  if (result.reason === 'type') {
    throw new ForbiddenError(`this key may not ${action} jobs of type "${result.type}" (it lacks its scope)`);
  }
  throw new ConflictError(
    `the job is ${result.state}: only ${action === 'cancel' ? 'ready or delayed jobs' : 'dead letters'} can be ${action === 'cancel' ? 'cancelled' : 'redriven'}`,
  );
}

/** The job routes, by route key. */
export const JOB_ROUTES: Readonly<Record<string, RouteHandler>> = {
  'POST /jobs': {
    read: false,
    async run(ctx) {
      const body = ctx.body as v.InferOutput<typeof S.EnqueueBody>;
      const answer = (job: EnqueueResult) =>
        json(
          job.duplicate ? 200 : 202,
          { id: job.id, duplicate: job.duplicate },
          { location: `/jobs/${job.id}` },
        );
      const job = await enqueueJob(
        ctx,
        body.type,
        body.payload,
        {
          ...(body.priority !== undefined ? { priority: body.priority } : {}),
          ...(body.delayMs !== undefined ? { delayMs: body.delayMs } : {}),
          ...(body.maxAttempts !== undefined ? { maxAttempts: body.maxAttempts } : {}),
          ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}),
        },
        answer,
      );
      return answer(job);
    },
  },
  'GET /jobs': {
    read: true,
    async run(ctx) {
      const { state, type, cursor, limit } = ctx.query;
      const page = await ctx.services.queue.list(ctx.tenant, {
        ...(state !== undefined ? { state: state as never } : {}),
        ...(type !== undefined ? { type: String(type) } : {}),
        ...(cursor !== undefined ? { cursor: String(cursor) } : {}),
        ...(limit !== undefined ? { limit: Number(limit) } : {}),
      });
      return json(200, page);
    },
  },
  'GET /jobs/{id}': {
    read: true,
    async run(ctx) {
      const status = await ctx.services.queue.status(ctx.tenant, param(ctx.request, 'id', 'job id'));
      if (!status) throw new NotFoundError('no such job');
      return json(200, status);
    },
  },
  'POST /jobs/{id}/cancel': {
    read: false,
    async run(ctx) {
      const id = param(ctx.request, 'id', 'job id');
      return acted(await ctx.services.queue.cancel(ctx.tenant, id, actionableTypes(ctx)), 'cancel');
    },
  },
  'POST /jobs/{id}/redrive': {
    read: false,
    async run(ctx) {
      const id = param(ctx.request, 'id', 'job id');
      return acted(await ctx.services.queue.redrive(ctx.tenant, id, actionableTypes(ctx)), 'redrive');
    },
  },
  'POST /jobs/redrive': {
    read: false,
    async run(ctx) {
      const { type } = ctx.body as v.InferOutput<typeof S.RedriveBody>;
      const definition = ctx.services.jobTypes.get(type);
      if (!definition || definition.scope === 'operator') {
        const known = ctx.services.jobTypes.enqueueable().map((t) => t.type);
        throw new ValidationError(
          `unknown job type ${JSON.stringify(type)}; known types: ${known.join(', ')}`,
        );
      }
      const types = actionableTypes(ctx);
      if (types !== '*' && !types.has(type)) {
        throw new ForbiddenError(
          `job type "${type}" needs the "${definition.scope}" scope, which this key lacks`,
        );
      }
      const redriven = await ctx.services.queue.redriveAll({ type, tenant: ctx.tenant, types });
      return json(200, { type, redriven });
    },
  },
};
