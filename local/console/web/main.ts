import { type DatabaseSnapshot, get, type RequestRecord, type StackInfo } from './api';
import { byId } from './dom';
import { mountData } from './views/data';
import { mountDatabases, showDatabases } from './views/databases';
import { mountLimits } from './views/limits';
import { mountQueue } from './views/queue';
import { mountRequests, showRequest } from './views/requests';
import { mountSessions } from './views/sessions';

/**
 * The local console's page: six views behind a navigation of plain links (the address's #hash
 * picks one), fed by one event stream that pushes each request as it completes and the
 * databases' figures every second.
 */

const VIEWS = ['requests', 'databases', 'data', 'limits', 'queue', 'sessions'] as const;
type View = (typeof VIEWS)[number];

let queue: { refresh(): Promise<void> } | undefined;

function show(view: View, focus: boolean): void {
  for (const name of VIEWS) byId(name).hidden = name !== view;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (link.hash === `#${view}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view[0]?.toUpperCase()}${view.slice(1)} · Local console`;
  if (view === 'queue') void queue?.refresh();
  if (focus) {
    const heading = byId(`${view}-title`);
    heading.tabIndex = -1;
    heading.focus();
  }
}

function route(focus: boolean): void {
  const view = location.hash.slice(1) as View;
  show(VIEWS.includes(view) ? view : 'requests', focus);
}

function connect(): void {
  const status = byId('connection');
  const events = new EventSource('/events');
  events.addEventListener('open', () => {
    status.textContent = 'live';
  });
  events.addEventListener('error', () => {
    status.textContent = 'disconnected: retrying…';
  });
  events.addEventListener('hello', (event) => {
    const hello = JSON.parse((event as MessageEvent<string>).data) as {
      records: RequestRecord[];
      databases: DatabaseSnapshot[];
    };
    for (const record of hello.records) showRequest(record, true);
    showDatabases(hello.databases);
  });
  events.addEventListener('request', (event) =>
    showRequest(JSON.parse((event as MessageEvent<string>).data) as RequestRecord, true),
  );
  events.addEventListener('update', (event) =>
    showRequest(JSON.parse((event as MessageEvent<string>).data) as RequestRecord, false),
  );
  events.addEventListener('metrics', (event) =>
    showDatabases(JSON.parse((event as MessageEvent<string>).data) as DatabaseSnapshot[]),
  );
}

async function start(): Promise<void> {
  const stack = await get<StackInfo>('stack');
  mountRequests();
  mountDatabases();
  mountData(stack);
  mountLimits(stack);
  queue = mountQueue(stack);
  mountSessions(stack);
  route(false);
  window.addEventListener('hashchange', () => route(true));
  connect();
  document.body.dataset.ready = 'true';
}

void start();
