/**
 * The cache (`upstash-serverless-state/cache`): JSON values per tenant, TTLs, getOrSet with
 * stampede protection, a fallback LRU while Upstash is down.
 *
 * @module
 */
export {
  type CacheBackend,
  type CacheHit,
  CacheService,
  type CacheServiceOptions,
  type CacheSetOptions,
  type CacheStats,
  type CacheWriteResult,
  type GetOrSetOptions,
} from './cache-service';
