import type { Cost } from './lib';

/** One row of the chart: an operation, ours against its reference. */
export interface ChartRow {
  readonly label: string;
  readonly reference: string;
  readonly ours: Cost;
  readonly theirs: Cost;
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Words laid into lines of at most `width` characters (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Tick values from 0 past `max`: every 1, 2, 5 or 10, whichever gives at most 8 steps. */
function ticks(max: number): number[] {
  const step = [1, 2, 5, 10, 20, 50].find((s) => Math.ceil(max / s) <= 8) ?? 100;
  const top = Math.max(step, Math.ceil(max / step) * step);
  return Array.from({ length: top / step + 1 }, (_, i) => i * step);
}

const OURS = '#2f6fdf';
const THEIRS = '#9a9a9a';
const LABEL_CHARS = 46;

/**
 * Two panels of grouped horizontal bars, one row per operation: HTTP round trips and billed
 * commands, ours against the reference, each bar labelled with its value, on axes with ticks and
 * grid lines. Labels wrap instead of being cut; the title says what the bars are and that lower
 * is better. Carries a `<title>` and `<desc>` for screen readers.
 */
export function costsChart(rows: readonly ChartRow[], date: string): string {
  const labelW = 330;
  const panelW = 300;
  const gap = 56;
  const top = 126;
  const barH = 12;
  const lineH = 13;
  const panels = [
    { title: 'HTTP round trips per operation', axis: 'HTTP round trips', of: (c: Cost) => c.roundTrips },
    { title: 'Billed commands per operation', axis: 'billed commands', of: (c: Cost) => c.billed },
  ];
  const laid = rows.map((row) => {
    const label = wrap(row.label, LABEL_CHARS);
    const reference = wrap(`vs ${row.reference}`, LABEL_CHARS + 6);
    const height = Math.max(2 * barH + 14, (label.length + reference.length) * lineH + 10);
    return { row, label, reference, height };
  });
  const plotH = laid.reduce((h, r) => h + r.height, 0);
  const width = labelW + panels.length * (panelW + gap);
  const height = top + plotH + 48;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="costs-title costs-desc">`,
    `<title id="costs-title">Cost per operation, ours against the reference: lower is better</title>`,
    `<desc id="costs-desc">${esc(
      rows
        .map(
          (r) =>
            `${r.label}: ${r.ours.roundTrips} round trips and ${r.ours.billed} billed commands; ${r.reference}: ${r.theirs.roundTrips} and ${r.theirs.billed}.`,
        )
        .join(' '),
    )}</desc>`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="12" y="24" font-size="16" font-weight="bold">Cost per operation, ours against the reference (lower is better)</text>`,
    `<text x="12" y="44" fill="#444">Counted at the local Upstash endpoint by npm run bench, ${esc(date)}. Billed = what Upstash bills: each command, and each command a script runs.</text>`,
    `<rect x="12" y="58" width="12" height="10" fill="${OURS}"/><text x="30" y="67">ours</text>`,
    `<rect x="80" y="58" width="12" height="10" fill="${THEIRS}"/><text x="98" y="67">reference: naive sequential calls, @upstash/ratelimit, @upstash/lock (named under each operation)</text>`,
  ];
  panels.forEach((panel, p) => {
    const x0 = labelW + p * (panelW + gap);
    const values = laid.flatMap(({ row }) => [panel.of(row.ours), panel.of(row.theirs)]);
    const scale = ticks(Math.max(1, ...values));
    const max = scale.at(-1) ?? 1;
    const px = (v: number) => x0 + (v / max) * panelW;
    parts.push(`<text x="${x0}" y="${top - 30}" font-weight="bold">${panel.title}</text>`);
    parts.push(`<text x="${x0}" y="${top - 16}" fill="#444" font-size="11">fewer is better</text>`);
    for (const t of scale) {
      const x = px(t).toFixed(1);
      parts.push(`<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${top + plotH}" stroke="#e3e3e3"/>`);
      parts.push(`<text x="${x}" y="${top + plotH + 16}" text-anchor="middle" font-size="11">${t}</text>`);
    }
    // Axes: the zero line and the scale under the rows.
    parts.push(`<line x1="${x0}" y1="${top - 6}" x2="${x0}" y2="${top + plotH}" stroke="#444"/>`);
    parts.push(
      `<line x1="${x0}" y1="${top + plotH}" x2="${x0 + panelW}" y2="${top + plotH}" stroke="#444"/>`,
    );
    parts.push(
      `<text x="${x0 + panelW / 2}" y="${top + plotH + 34}" text-anchor="middle" font-size="11" fill="#444">${panel.axis}</text>`,
    );
    let y = top;
    for (const { row, height: h } of laid) {
      const bar = (value: number, dy: number, color: string) => {
        const w = Math.max(1, px(value) - x0);
        parts.push(
          `<rect x="${x0}" y="${y + dy}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`,
        );
        parts.push(`<text x="${(x0 + w + 4).toFixed(1)}" y="${y + dy + 10}" font-size="11">${value}</text>`);
      };
      bar(panel.of(row.ours), 6, OURS);
      bar(panel.of(row.theirs), 8 + barH, THEIRS);
      y += h;
    }
  });
  let y = top;
  for (const { label, reference, height: h } of laid) {
    let line = y + 14;
    for (const text of label) {
      parts.push(`<text x="12" y="${line}">${esc(text)}</text>`);
      line += lineH;
    }
    for (const text of reference) {
      parts.push(`<text x="20" y="${line}" fill="#555" font-size="11">${esc(text)}</text>`);
      line += lineH;
    }
    parts.push(`<line x1="12" y1="${y + h}" x2="${width - 12}" y2="${y + h}" stroke="#f0f0f0"/>`);
    y += h;
  }
  parts.push('</svg>');
  return parts.join('\n');
}
