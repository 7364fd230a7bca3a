import type * as v from 'valibot';
import type { RateLimiter } from '../../services/rate-limit/rate-limiter';
import type * as S from '../../shared/api-schemas';
import { NotFoundError } from '../../shared/errors';
import { json } from '../../shared/http';
import { param, type RouteContext, type RouteHandler } from './context';

/** The named limiter of the path. */
function limiterOf(ctx: RouteContext): { name: string; limiter: RateLimiter } {
  const name = param(ctx.request, 'name', 'limit name');
  const limiter = ctx.services.limiters.get(name);
  if (!limiter) throw new NotFoundError(`no rate limit named "${name}" is configured`);
  return { name, limiter };
}

/** The rate-limit routes, by route key. */
export const LIMIT_ROUTES: Readonly<Record<string, RouteHandler>> = {
  'POST /rate-limits/{name}/check': {
    read: false,
    async run(ctx) {
      const { name, limiter } = limiterOf(ctx);
      const { identifier, cost } = ctx.body as v.InferOutput<typeof S.CheckLimitBody>;
      const result = await limiter.check(ctx.tenant, identifier, cost !== undefined ? { cost } : {});
      return json(200, { name, identifier, ...result });
    },
  },
  'POST /rate-limits/{name}/refund': {
    read: false,
    async run(ctx) {
      const { name, limiter } = limiterOf(ctx);
      const { identifier, cost } = ctx.body as v.InferOutput<typeof S.RefundLimitBody>;
      // Bounded by the script: a refund never gives back more than was used.
      const result = await limiter.refund(ctx.tenant, identifier, cost ?? 1);
      return json(200, { name, identifier, ...result });
    },
  },
  'GET /rate-limits/{name}/{identifier}': {
    read: true,
    async run(ctx) {
      const { name, limiter } = limiterOf(ctx);
      const identifier = param(ctx.request, 'identifier');
      return json(200, { name, identifier, ...(await limiter.peek(ctx.tenant, identifier)) });
    },
  },
  'DELETE /rate-limits/{name}/{identifier}': {
    read: false,
    async run(ctx) {
      const { name, limiter } = limiterOf(ctx);
      const identifier = param(ctx.request, 'identifier');
      await limiter.reset(ctx.tenant, identifier);
      return json(200, { name, identifier, cleared: true });
    },
  },
};
