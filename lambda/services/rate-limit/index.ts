/**
 * Rate limits (`upstash-serverless-state/rate-limit`): fixed window, sliding window and token
 * bucket, one command per check, several limits at once, an outage policy per limiter.
 *
 * @module
 */
export {
  type Algorithm,
  type CheckOptions,
  type LimitCheck,
  type MultiRateLimitResult,
  type OutagePolicy,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimitReason,
  type RateLimitResult,
} from './rate-limiter';
