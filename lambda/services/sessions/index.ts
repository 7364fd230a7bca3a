/**
 * Sessions (`upstash-serverless-state/sessions`): sliding idle TTL and absolute lifetime, per-user
 * index, revoke-all, atomic regenerate.
 *
 * @module
 */
export {
  type CreateOptions,
  type JsonValue,
  type Session,
  type SessionData,
  SessionService,
  type SessionServiceOptions,
} from './session-service';
