import { ApiError, get, type StackInfo } from '../api';
import { byId, bytes, fields, h, replace, say, ttl } from '../dom';
import { tenantField } from './tenant';

/** The data browser: a tenant's keys in one key space, by id prefix, and a value viewer. */

interface KeyEntry {
  readonly key: string;
  readonly id: string;
  readonly type: string;
  readonly ttlMs: number;
  readonly bytes: number;
}

export function mountData(stack: StackInfo): void {
  const results = h('div', { 'aria-live': 'polite' });
  const viewer = h('div', { id: 'value-viewer' });
  let query: Record<string, string> = {};
  let cursor: string | null = null;
  let rows: HTMLTableSectionElement | undefined;

  const more = h('button', { type: 'button', hidden: true, onclick: () => void load(false) }, 'More keys');

  async function load(fresh: boolean): Promise<void> {
    try {
      const page = await get<{ keys: KeyEntry[]; cursor: string | null }>('keys', {
        ...query,
        cursor: fresh ? '0' : (cursor ?? '0'),
      });
      if (fresh || !rows) {
        rows = h('tbody');
        replace(
          results,
          h(
            'table',
            { id: 'key-table' },
            h(
              'caption',
              {},
              `Keys of tenant ${query.tenant} under ${query.space}${query.prefix ? `, id starting "${query.prefix}"` : ''}`,
            ),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Id'),
                h('th', { scope: 'col' }, 'Type'),
                h('th', { scope: 'col' }, 'TTL'),
                h('th', { scope: 'col', class: 'num' }, 'Size'),
              ),
            ),
            rows,
          ),
        );
      }
      for (const entry of page.keys) {
        rows.append(
          h(
            'tr',
            {},
            h('td', {}, h('button', { type: 'button', onclick: () => void view(entry.key) }, entry.id)),
            h('td', {}, entry.type),
            h('td', {}, ttl(entry.ttlMs)),
            h('td', { class: 'num' }, bytes(entry.bytes)),
          ),
        );
      }
      if (rows.rows.length === 0 && !page.cursor) say(results, 'No keys.');
      cursor = page.cursor;
      more.hidden = cursor === null;
    } catch (error) {
      say(results, (error as Error).message, error instanceof ApiError);
    }
  }

  async function view(key: string): Promise<void> {
    try {
      const value = await get<{
        key: string;
        type: string;
        ttlMs: number;
        bytes: number;
        value: unknown;
        truncated: boolean;
      }>('value', {
        tenant: query.tenant ?? '',
        space: query.space ?? '',
        key,
      });
      let shown = value.value;
      if (typeof shown === 'string') {
        try {
          shown = JSON.parse(shown);
        } catch {}
      }
      replace(
        viewer,
        h('h3', { id: 'value-title', tabindex: -1 }, `Value of ${value.key}`),
        h(
          'p',
          {},
          `${value.type}, ${ttl(value.ttlMs)}, ${bytes(value.bytes)}${value.truncated ? ', first 100 items' : ''}`,
        ),
        h(
          'pre',
          { tabindex: 0, 'aria-labelledby': 'value-title' },
          typeof shown === 'string' ? shown : JSON.stringify(shown, null, 2),
        ),
      );
      byId('value-title').focus();
    } catch (error) {
      say(viewer, (error as Error).message, true);
    }
  }

  const form = h(
    'form',
    {
      class: 'controls',
      onsubmit: (event) => {
        event.preventDefault();
        query = fields(event.currentTarget as HTMLFormElement);
        replace(viewer);
        void load(true);
      },
    },
    tenantField(stack, 'data-tenant'),
    h(
      'label',
      {},
      'Key space',
      h('select', { name: 'space' }, ...stack.spaces.map((s) => h('option', { value: s }, s))),
    ),
    h('label', {}, 'Id prefix', h('input', { name: 'prefix', autocomplete: 'off', size: 14 })),
    h('button', { type: 'submit' }, 'List keys'),
  );
  replace(
    byId('data'),
    h('h2', { id: 'data-title' }, 'Data'),
    h(
      'p',
      { class: 'hint' },
      `A tenant's keys (${stack.keyPrefix}:<space>:<tenant>:<id>) with their type, TTL and size, read through the local Upstash endpoint; this view changes nothing.`,
    ),
    form,
    results,
    more,
    viewer,
  );
}
