import type * as v from 'valibot';
import type { JsonValue, Session } from '../../services/sessions/session-service';
import type * as S from '../../shared/api-schemas';
import { NotFoundError } from '../../shared/errors';
import { json } from '../../shared/http';
import { setField } from '../../shared/json';
import { param, type RouteHandler } from './context';

const sessionJson = (session: Session) => ({
  id: session.id,
  userId: session.userId,
  createdAt: session.createdAt,
  expiresAt: session.expiresAt,
  idleExpiresAt: session.idleExpiresAt,
  data: session.data,
});

const gone = () => new NotFoundError('no such session (it may have expired)');

/** The session routes, by route key. */
export const SESSION_ROUTES: Readonly<Record<string, RouteHandler>> = {
  'POST /sessions': {
    read: false,
    async run(ctx) {
      const body = ctx.body as v.InferOutput<typeof S.CreateSessionBody>;
      const answer = (session: Session) => json(201, sessionJson(session));
      const receipt = ctx.receipt('sessions', answer);
      const session = await ctx.services.sessions.create(
        ctx.tenant,
        body.userId,
        (body.data ?? {}) as Record<string, JsonValue>,
        {
          settleBy: ctx.settleBy,
          ...(ctx.token !== undefined ? { id: ctx.token } : {}),
          ...(receipt ? { receipt } : {}),
        },
      );
      return answer(session);
    },
  },
  'GET /sessions/{id}': {
    read: true,
    async run(ctx) {
      const session = await ctx.services.sessions.get(ctx.tenant, param(ctx.request, 'id', 'session id'));
      if (!session) throw gone();
      return json(200, sessionJson(session));
    },
  },
  'PATCH /sessions/{id}': {
    read: false,
    async run(ctx) {
      const id = param(ctx.request, 'id', 'session id');
      const body = ctx.body as v.InferOutput<typeof S.UpdateSessionBody>;
      const patch: Record<string, JsonValue | undefined> = {
        ...((body.data ?? {}) as Record<string, JsonValue>),
      };
      // setField: a field named __proto__ is removed like any other, not assigned to the prototype.
      for (const field of body.remove ?? []) setField(patch, field, undefined);
      const session = await ctx.services.sessions.update(ctx.tenant, id, patch);
      if (!session) throw gone();
      return json(200, sessionJson(session));
    },
  },
  'DELETE /sessions/{id}': {
    read: false,
    async run(ctx) {
      const deleted = await ctx.services.sessions.destroy(ctx.tenant, param(ctx.request, 'id', 'session id'));
      return json(200, { deleted });
    },
  },
  'POST /sessions/{id}/regenerate': {
    read: false,
    async run(ctx) {
      const id = param(ctx.request, 'id', 'session id');
      const session = await ctx.services.sessions.regenerate(ctx.tenant, id, {
        ...(ctx.token !== undefined ? { nextId: ctx.token } : {}),
      });
      if (!session) throw gone();
      return json(200, sessionJson(session));
    },
  },
  'GET /users/{userId}/sessions': {
    read: true,
    async run(ctx) {
      const userId = param(ctx.request, 'userId');
      const sessions = await ctx.services.sessions.list(ctx.tenant, userId);
      return json(200, { userId, sessions: sessions.map(sessionJson) });
    },
  },
  'DELETE /users/{userId}/sessions': {
    read: false,
    async run(ctx) {
      const userId = param(ctx.request, 'userId');
      return json(200, { userId, revoked: await ctx.services.sessions.revokeAll(ctx.tenant, userId) });
    },
  },
};
