import type * as v from 'valibot';
import type { CacheBackend } from '../../services/cache/cache-service';
import { INVALIDATE_PREFIX } from '../../services/queue/job-types';
import { hasScope } from '../../shared/api-keys';
import type * as S from '../../shared/api-schemas';
import { ForbiddenError, NotFoundError } from '../../shared/errors';
import { type HttpResponse, json } from '../../shared/http';
import { METRICS } from '../../shared/metric-definitions';
import { param, type RouteContext, type RouteHandler, ttlOf } from './context';
import { enqueueJob } from './job-routes';

function cacheRead(ctx: RouteContext, hit: { backend: CacheBackend } | null): void {
  ctx.services.stats.record(ctx.tenant, hit !== null);
  ctx.metrics.add(hit ? METRICS.cacheHit : METRICS.cacheMiss, 1);
  // A miss carries no backend: it counts as served by the fallback while the circuit is open.
  if ((hit?.backend ?? ctx.services.cache.backend) === 'fallback') ctx.metrics.add(METRICS.fallbackServed, 1);
}

/** `x-cache-backend` of a write: where it is stored. */
const writtenTo = (stored: unknown): Record<string, string> => ({
  'x-cache-backend': stored === 'local' ? 'fallback' : 'upstash',
});

/** The cache routes, by route key. */
export const CACHE_ROUTES: Readonly<Record<string, RouteHandler>> = {
  'GET /cache/{key}': {
    read: true,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const hit = await ctx.services.cache.get(ctx.tenant, key);
      cacheRead(ctx, hit);
      if (!hit) throw new NotFoundError('no cached value for this key');
      return json(200, { key, value: hit.value }, { 'x-cache-backend': hit.backend });
    },
  },
  'PUT /cache/{key}': {
    read: false,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const mode = ctx.query.mode;
      const ttlMs = ttlOf(ctx);
      const stored = await ctx.services.cache.set(ctx.tenant, key, ctx.body, {
        ...(ttlMs !== undefined ? { ttlMs } : {}),
        nx: mode === 'nx',
        xx: mode === 'xx',
      });
      return json(200, { key, stored }, writtenTo(stored));
    },
  },
  'DELETE /cache/{key}': {
    read: false,
    async run(ctx) {
      const key = param(ctx.request, 'key');
      const deleted = await ctx.services.cache.delete(ctx.tenant, key);
      return json(200, { key, deleted }, writtenTo(true));
    },
  },
  'POST /cache/batch': {
    read: (body) => (body as { get?: unknown } | undefined)?.get !== undefined,
    async run(ctx): Promise<HttpResponse> {
      const body = ctx.body as v.InferOutput<typeof S.CacheBatchBody>;
      if (body.get !== undefined) {
        const hits = await ctx.services.cache.mget(ctx.tenant, body.get);
        const items = body.get.map((key, i) => {
          const hit = hits[i] ?? null;
          cacheRead(ctx, hit);
          return hit ? { key, hit: true, value: hit.value } : { key, hit: false };
        });
        return json(200, { items });
      }
      if (!hasScope(ctx.scopes, 'cache:write')) {
        throw new ForbiddenError('this key lacks the "cache:write" scope');
      }
      const entries = (body.set ?? []).map(({ key, value }) => ({ key, value }));
      const ttlMs = ttlOf(ctx, body.ttlMs);
      const stored = await ctx.services.cache.mset(ctx.tenant, entries, ttlMs !== undefined ? { ttlMs } : {});
      return json(200, { stored: stored === 'local' ? 'local' : entries.length }, writtenTo(stored));
    },
  },
  'POST /cache/invalidate': {
    read: false,
    async run(ctx) {
      const { prefix } = ctx.body as v.InferOutput<typeof S.InvalidateBody>;
      // The cache builds the pattern the job will use, so a prefix it cannot take fails here.
      ctx.services.cache.pattern(ctx.tenant, prefix);
      const answer = (job: { id: string }) => json(202, { jobId: job.id }, { location: `/jobs/${job.id}` });
      const job = await enqueueJob(ctx, INVALIDATE_PREFIX, { prefix }, {}, (job) => answer(job));
      return answer(job);
    },
  },
  'POST /cache/namespaces/{namespace}/invalidate': {
    read: false,
    async run(ctx) {
      const namespace = param(ctx.request, 'namespace');
      await ctx.services.cache.invalidateNamespace(ctx.tenant, namespace);
      return json(200, { namespace, invalidated: true });
    },
  },
};
