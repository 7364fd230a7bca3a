/**
 * Small charts in plain SVG, with axes and labels, each an image with a title and a description
 * that says its numbers in words (what a screen reader reads), focusable so a keyboard user can
 * reach it and hear them.
 */

const SVG = 'http://www.w3.org/2000/svg';
let ids = 0;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
  text?: string,
) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** A chart's frame: the image role, its title and description, a tab stop. */
function frame(width: number, height: number, title: string, description: string): SVGSVGElement {
  const id = `chart-${++ids}`;
  const root = svg('svg', {
    class: 'chart',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    tabindex: 0,
    'aria-labelledby': `${id}-title ${id}-desc`,
  });
  root.append(svg('title', { id: `${id}-title` }, title), svg('desc', { id: `${id}-desc` }, description));
  return root;
}

/** A round top for an axis: 1, 2, 5, 10, 20, 50, ... at least `max`. */
function niceTop(max: number): number {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

/**
 * A line of one value per second, oldest first: y from 0 to a round top, x from -n s to now.
 * `unit` names the value ("commands/s").
 */
export function lineChart(values: readonly number[], title: string, unit: string): SVGSVGElement {
  const width = 340;
  const height = 120;
  const left = 36;
  const bottom = 20;
  const top = niceTop(Math.max(...values, 0));
  const peak = Math.max(...values, 0);
  const now = values[values.length - 1] ?? 0;
  const chart = frame(
    width,
    height,
    title,
    `${unit} over the last ${values.length} seconds: now ${now}, highest ${peak}. Axis from 0 to ${top}.`,
  );
  const plotW = width - left - 6;
  const plotH = height - bottom - 8;
  const x = (i: number) => left + (values.length <= 1 ? 0 : (i / (values.length - 1)) * plotW);
  const y = (v: number) => 8 + plotH - (v / top) * plotH;
  chart.append(
    svg('line', { class: 'grid', x1: left, x2: left + plotW, y1: y(top / 2), y2: y(top / 2) }),
    svg('line', { class: 'axis', x1: left, x2: left, y1: 8, y2: 8 + plotH }),
    svg('line', { class: 'axis', x1: left, x2: left + plotW, y1: 8 + plotH, y2: 8 + plotH }),
    svg('text', { x: left - 4, y: y(top) + 4, 'text-anchor': 'end' }, String(top)),
    svg('text', { x: left - 4, y: y(0) + 4, 'text-anchor': 'end' }, '0'),
    svg('text', { x: left, y: height - 4 }, `-${values.length} s`),
    svg('text', { x: left + plotW, y: height - 4, 'text-anchor': 'end' }, 'now'),
    svg('text', { x: left + plotW / 2, y: height - 4, 'text-anchor': 'middle' }, unit),
    svg('polyline', { class: 'series', points: values.map((v, i) => `${x(i)},${y(v)}`).join(' ') }),
  );
  return chart;
}

/** Horizontal bars, one per labelled value, on one scale from 0; `unit` after each value. */
export function barChart(
  bars: ReadonlyArray<readonly [string, number]>,
  title: string,
  unit: string,
): SVGSVGElement {
  const width = 340;
  const row = 22;
  const left = 44;
  const right = 70;
  const height = bars.length * row + 22;
  const top = niceTop(Math.max(...bars.map(([, v]) => v), 0));
  const chart = frame(width, height, title, bars.map(([label, v]) => `${label} ${v} ${unit}`).join(', '));
  const plotW = width - left - right;
  bars.forEach(([label, value], i) => {
    const y = 4 + i * row;
    chart.append(
      svg('text', { x: left - 6, y: y + 14, 'text-anchor': 'end' }, label),
      svg('rect', { class: 'bar', x: left, y, width: Math.max(1, (value / top) * plotW), height: row - 8 }),
      svg('text', { x: left + (value / top) * plotW + 4, y: y + 14 }, `${value} ${unit}`),
    );
  });
  const axisY = bars.length * row + 2;
  chart.append(
    svg('line', { class: 'axis', x1: left, x2: left + plotW, y1: axisY, y2: axisY }),
    svg('text', { x: left, y: axisY + 14 }, '0'),
    svg('text', { x: left + plotW, y: axisY + 14, 'text-anchor': 'end' }, `${top} ${unit}`),
  );
  return chart;
}
