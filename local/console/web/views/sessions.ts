import { get, post, type StackInfo } from '../api';
import { byId, clock, fields, h, replace, say } from '../dom';
import { tenantField } from './tenant';

/** A user's live sessions in a tenant, and revoking one or all (ids are never shown whole). */

interface SessionRow {
  readonly ref: string;
  readonly shortId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly idleExpiresAt: number;
  readonly fields: readonly string[];
}

export function mountSessions(stack: StackInfo): void {
  const result = h('div', { 'aria-live': 'polite' });
  const status = h('div', { role: 'status' });
  let current: Record<string, string> = {};

  async function revoke(ref?: string): Promise<void> {
    try {
      const { revoked } = await post<{ revoked: number }>('sessions/revoke', {
        tenant: current.tenant,
        user: current.user,
        ...(ref ? { ref } : {}),
      });
      say(status, `Revoked ${revoked} session${revoked === 1 ? '' : 's'}.`);
    } catch (error) {
      say(status, (error as Error).message, true);
    }
    await show();
  }

  async function show(): Promise<void> {
    try {
      const { sessions } = await get<{ sessions: SessionRow[] }>('sessions', {
        tenant: current.tenant ?? '',
        user: current.user ?? '',
      });
      replace(
        result,
        sessions.length === 0
          ? h('p', {}, `No live sessions of ${current.user}.`)
          : h(
              'table',
              { id: 'session-table' },
              h('caption', {}, `Sessions of ${current.user} in tenant ${current.tenant}`),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ...['Session', 'Created', 'Idle expiry', 'Expiry', 'Fields', 'Action'].map((t) =>
                    h('th', { scope: 'col' }, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                ...sessions.map((s) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, s.shortId),
                    h('td', {}, clock(s.createdAt)),
                    h('td', {}, clock(s.idleExpiresAt)),
                    h('td', {}, clock(s.expiresAt)),
                    h('td', {}, s.fields.join(', ')),
                    h(
                      'td',
                      {},
                      h(
                        'button',
                        {
                          type: 'button',
                          class: 'danger',
                          'aria-label': `Revoke session ${s.shortId}`,
                          onclick: () => void revoke(s.ref),
                        },
                        'Revoke',
                      ),
                    ),
                  ),
                ),
              ),
            ),
        sessions.length > 1
          ? h(
              'button',
              { type: 'button', class: 'danger', onclick: () => void revoke() },
              `Revoke all of ${current.user}'s sessions`,
            )
          : null,
      );
    } catch (error) {
      say(result, (error as Error).message, true);
    }
  }

  replace(
    byId('sessions'),
    h('h2', { id: 'sessions-title' }, 'Sessions'),
    h(
      'form',
      {
        class: 'controls',
        onsubmit: (event) => {
          event.preventDefault();
          current = fields(event.currentTarget as HTMLFormElement);
          void show();
        },
      },
      tenantField(stack, 'session-tenant'),
      h('label', {}, 'User', h('input', { name: 'user', required: true, autocomplete: 'off', size: 16 })),
      h('button', { type: 'submit' }, 'Show sessions'),
    ),
    status,
    result,
  );
}
