import type { DatabaseSnapshot } from '../api';
import { barChart, lineChart } from '../chart';
import { byId, bytes, count, h, replace, usd } from '../dom';

/** Per database: commands per second, hit rate, latency, keys, memory and the monthly estimate. */

let cards: HTMLElement;

export function mountDatabases(): void {
  cards = h('div', { class: 'cards' });
  replace(
    byId('databases'),
    h('h2', { id: 'databases-title' }, 'Databases'),
    h(
      'p',
      { class: 'hint' },
      "Counted at the local Upstash endpoint from every request but this console's own, over the last 5 minutes. The monthly estimate: the billed commands per second seen, for a 30-day month, at the database's plan price (plus its fee).",
    ),
    cards,
  );
}

function card(db: DatabaseSnapshot): HTMLElement {
  const hit =
    db.hitRate === null
      ? 'no reads yet'
      : `${Math.round(db.hitRate * 1000) / 10} % of ${count(db.reads)} reads`;
  const latency = db.latencyMs;
  return h(
    'article',
    { class: 'card', 'aria-labelledby': `db-${db.name}` },
    h(
      'h3',
      { id: `db-${db.name}` },
      `${db.name} `,
      h('small', {}, `(${db.plan.preset}, $${db.plan.pricePer100kCommands} per 100K commands)`),
    ),
    h(
      'dl',
      { class: 'figures' },
      h('dt', {}, 'Commands per second'),
      h('dd', { 'data-figure': 'cps' }, String(db.commandsPerSecondNow), ' (last 10 s)'),
      h('dt', {}, 'Hit rate'),
      h('dd', { 'data-figure': 'hit-rate' }, hit),
      h('dt', {}, 'Latency p50 / p95 / p99'),
      h('dd', {}, latency ? `${latency.p50} / ${latency.p95} / ${latency.p99} ms` : 'no requests yet'),
      h('dt', {}, 'Keys'),
      h('dd', { 'data-figure': 'keys' }, db.keys === null ? '…' : count(db.keys)),
      h('dt', {}, 'Memory'),
      h('dd', {}, db.memoryBytes === null ? '…' : `${db.memorySampled ? '≈ ' : ''}${bytes(db.memoryBytes)}`),
      h('dt', {}, 'Billed commands'),
      h('dd', {}, `${count(db.billed)} in ${db.windowSeconds} s`),
      h('dt', {}, 'Estimated monthly cost'),
      h('dd', { 'data-figure': 'monthly' }, usd(db.monthlyUsd)),
    ),
    h(
      'figure',
      {},
      lineChart(db.commandsPerSecond, `${db.name}: commands per second`, 'commands/s'),
      h('figcaption', {}, 'Commands per second, last 60 s'),
    ),
    latency
      ? h(
          'figure',
          {},
          barChart(
            [
              ['p50', latency.p50],
              ['p95', latency.p95],
              ['p99', latency.p99],
            ],
            `${db.name}: latency percentiles at the endpoint`,
            'ms',
          ),
          h('figcaption', {}, 'Endpoint latency percentiles, lower is better'),
        )
      : null,
  );
}

/** Redraws the cards with the latest figures (keeps focus where it was, when it was on a chart). */
export function showDatabases(databases: readonly DatabaseSnapshot[]): void {
  if (cards.contains(document.activeElement)) return;
  replace(cards, ...databases.map(card));
}
