import { get, post, type StackInfo } from '../api';
import { byId, clock, fields, h, replace, say } from '../dom';
import { tenantField } from './tenant';

/** A limiter's state for an identifier of a tenant, and its reset. */

interface LimitState {
  readonly success: boolean;
  readonly limit: number;
  readonly remaining: number;
  readonly reset: number;
  readonly reason: string;
}

export function mountLimits(stack: StackInfo): void {
  const result = h('div', { 'aria-live': 'polite', id: 'limit-state' });
  let current: Record<string, string> = {};

  async function show(): Promise<void> {
    try {
      const state = await get<LimitState>(`limits/${encodeURIComponent(current.limit ?? '')}`, {
        tenant: current.tenant ?? '',
        identifier: current.identifier ?? '',
      });
      replace(
        result,
        h(
          'dl',
          { class: 'figures', 'data-remaining': state.remaining },
          h('dt', {}, 'Limit'),
          h('dd', {}, String(state.limit)),
          h('dt', {}, 'Remaining'),
          h('dd', { 'data-figure': 'remaining' }, String(state.remaining)),
          h('dt', {}, 'Next request'),
          h('dd', {}, state.success ? 'would pass' : 'would be refused'),
          h('dt', {}, state.success ? 'Replenishes at' : 'Passes again at'),
          h('dd', {}, clock(state.reset)),
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            id: 'limit-reset',
            onclick: async () => {
              try {
                await post(`limits/${encodeURIComponent(current.limit ?? '')}/reset`, {
                  tenant: current.tenant,
                  identifier: current.identifier,
                });
                await show();
                result.append(
                  h('p', { class: 'message', role: 'status' }, `Reset: ${current.identifier} starts afresh.`),
                );
              } catch (error) {
                say(result, (error as Error).message, true);
              }
            },
          },
          'Reset',
        ),
      );
    } catch (error) {
      say(result, (error as Error).message, true);
    }
  }

  replace(
    byId('limits'),
    h('h2', { id: 'limits-title' }, 'Rate limits'),
    h(
      'p',
      { class: 'hint' },
      'What a limiter holds for an identifier (the api limit counts per tenant: its identifier is the tenant). Reset clears it, and the api function forgets that it refused it.',
    ),
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
      tenantField(stack, 'limit-tenant'),
      h(
        'label',
        {},
        'Limiter',
        h('select', { name: 'limit' }, ...stack.limiters.map((l) => h('option', { value: l }, l))),
      ),
      h(
        'label',
        {},
        'Identifier',
        h('input', {
          name: 'identifier',
          required: true,
          autocomplete: 'off',
          size: 16,
          value: stack.tenant,
        }),
      ),
      h('button', { type: 'submit' }, 'Show state'),
    ),
    result,
  );
}
