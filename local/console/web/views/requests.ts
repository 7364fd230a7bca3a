import { get, type RequestRecord } from '../api';
import { byId, clock, count, duration, h, replace } from '../dom';

/**
 * The live request log: each request (and scheduled run) as the console pushes it, newest on top,
 * with what it cost in Upstash commands, round trips and billed commands, and its log lines one
 * click away.
 */

const MAX_ROWS = 300;
let body: HTMLTableSectionElement;

const statusClass = (status: number) =>
  status >= 500 ? 'status-bad' : status >= 400 ? 'status-warn' : 'status-ok';

/** Draws the view's frame. */
export function mountRequests(): void {
  body = h('tbody');
  replace(
    byId('requests'),
    h('h2', { id: 'requests-title' }, 'Requests'),
    h(
      'p',
      { class: 'hint' },
      'Each request to the HTTP API and each scheduled run, as it completes, with what it cost: the Upstash commands sent, the round trips, and the commands billed (a script counts with every command it ran), as the local endpoint counted them for that request.',
    ),
    h(
      'table',
      { id: 'request-log' },
      h('caption', {}, 'Newest first; costs per request, all databases together'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Time'),
          h('th', { scope: 'col' }, 'Method'),
          h('th', { scope: 'col' }, 'Path'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col', class: 'num' }, 'Latency'),
          h('th', { scope: 'col', class: 'num' }, 'Commands'),
          h('th', { scope: 'col', class: 'num' }, 'Round trips'),
          h('th', { scope: 'col', class: 'num' }, 'Billed'),
          h('th', { scope: 'col' }, 'Logs'),
        ),
      ),
      body,
    ),
  );
}

function cells(record: RequestRecord): HTMLTableCellElement[] {
  const perDb = Object.entries(record.byDatabase)
    .map(([db, c]) => `${db}: ${c.commands} commands, ${c.roundTrips} round trips, ${c.billed} billed`)
    .join('; ');
  const logs = h(
    'button',
    {
      type: 'button',
      'aria-expanded': 'false',
      'aria-label': `${record.lines} lines of ${record.method} ${record.path}`,
      onclick: (event) => void toggleLogs(record, event.currentTarget as HTMLButtonElement),
    },
    `${record.lines} lines`,
  );
  return [
    h('td', {}, h('time', { datetime: new Date(record.at).toISOString() }, clock(record.at))),
    h('td', {}, record.method),
    h('td', { title: record.route }, record.path),
    h(
      'td',
      { class: statusClass(record.status) },
      record.kind === 'scheduled' ? (record.status === 200 ? 'ok' : 'failed') : String(record.status),
    ),
    h('td', { class: 'num' }, duration(record.ms)),
    h('td', { class: 'num', title: perDb || 'no Upstash commands' }, count(record.cost.commands)),
    h('td', { class: 'num' }, count(record.cost.roundTrips)),
    h('td', { class: 'num' }, count(record.cost.billed)),
    h('td', {}, logs),
  ];
}

/** Adds a request, or updates its row (a late cost or log line). */
export function showRequest(record: RequestRecord, fresh: boolean): void {
  let row = body.querySelector<HTMLTableRowElement>(`tr[data-request-id="${CSS.escape(record.id)}"]`);
  if (!row) {
    if (!fresh) return;
    row = h('tr', { 'data-request-id': record.id, 'data-shown-at': Date.now() });
    body.prepend(row);
    while (body.rows.length > MAX_ROWS) body.lastElementChild?.remove();
  } else if (row.nextElementSibling?.classList.contains('logs')) {
    row.nextElementSibling.remove();
  }
  row.dataset.commands = String(record.cost.commands);
  row.dataset.roundTrips = String(record.cost.roundTrips);
  row.dataset.billed = String(record.cost.billed);
  row.dataset.status = String(record.status);
  row.replaceChildren(...cells(record));
}

async function toggleLogs(record: RequestRecord, button: HTMLButtonElement): Promise<void> {
  const row = button.closest('tr');
  if (!row) return;
  const open = row.nextElementSibling?.classList.contains('logs') ? row.nextElementSibling : null;
  if (open) {
    open.remove();
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  const id = `logs-${record.id}`;
  const cell = h('td', { colspan: 9, id }, 'loading…');
  row.after(h('tr', { class: 'logs' }, cell));
  button.setAttribute('aria-expanded', 'true');
  button.setAttribute('aria-controls', id);
  try {
    const { lines } = await get<{ lines: string[] }>(`requests/${encodeURIComponent(record.id)}/lines`);
    const pretty = lines.map((line) => {
      try {
        return JSON.stringify(JSON.parse(line), null, 2);
      } catch {
        return line;
      }
    });
    replace(
      cell,
      h(
        'pre',
        { tabindex: 0, 'aria-label': `log lines of ${record.method} ${record.path}` },
        pretty.join('\n') || '(no lines)',
      ),
    );
  } catch (error) {
    replace(cell, (error as Error).message);
  }
}
