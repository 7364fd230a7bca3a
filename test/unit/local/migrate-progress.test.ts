import { describe, expect, it } from 'vitest';
import type { CopyProgress } from '../../../lambda/services/migration/copy';
import { progressLine, progressPrinter } from '../../../local/migrate-cli';
import { terminalScreen } from '../../helpers/terminal';

/** `npm run migrate -- copy`'s progress line and how it reaches a terminal or a log. */

const progress = (over: Partial<CopyProgress>): CopyProgress => ({
  cursor: '17',
  done: false,
  scanned: 0,
  copied: 0,
  skipped: 0,
  byType: {},
  bytes: 0,
  total: null,
  startedAt: 0,
  updatedAt: 0,
  ...over,
});

/** The line a terminal shows after `text` (one line of progress, rewritten in place). */
const screen = (text: string): string => terminalScreen(text).at(-1) ?? '';

describe('progressLine', () => {
  it('draws the bar against the counted total: share, counts, rate, ETA', () => {
    const line = progressLine(progress({ scanned: 1_500, copied: 1_490, total: 3_000 }), {
      keysPerSecond: 5_000,
      etaSeconds: 1,
    });
    expect(line).toBe('[############------------] 50% 1,490 of ~3,000 keys copied, 5,000 keys/s, ETA 1 s');
  });

  it('says the total is unknown instead of drawing a bar against the wrong base', () => {
    const rate = { keysPerSecond: 900, etaSeconds: null };
    expect(progressLine(progress({ scanned: 40, copied: 40 }), rate)).toBe(
      '40 keys copied (total unknown), 900 keys/s',
    );
    expect(progressLine(progress({ done: true, cursor: '0', scanned: 41, copied: 41 }), rate)).toBe(
      '41 keys copied, 900 keys/s, done',
    );
  });

  it('never goes past 100 % while keys added during the copy push the count over the total', () => {
    const line = progressLine(progress({ scanned: 120, copied: 120, total: 100 }), {
      keysPerSecond: 10,
      etaSeconds: 0,
    });
    expect(line).toMatch(/^\[#{24}\] 100% 120 of ~100 keys copied/);
  });
});

describe('progressPrinter', () => {
  it('on a terminal, leaves nothing of a longer line behind a shorter one ("done s")', () => {
    let text = '';
    const printer = progressPrinter((t) => (text += t), { interactive: true });
    printer.update('[#####-] 83% 5 of ~6 keys copied, 5 keys/s, ETA 12 s', false);
    printer.update('[######] 100% 6 of ~6 keys copied, 5 keys/s, done', true);
    expect(screen(text)).toBe('[######] 100% 6 of ~6 keys copied, 5 keys/s, done');
    printer.end();
    expect(text.endsWith('\n')).toBe(true);
  });

  it('cuts a line to the terminal width, so it never wraps (\\r would then rewrite only its end)', () => {
    let text = '';
    progressPrinter((t) => (text += t), { interactive: true, columns: 20 }).update('x'.repeat(50), false);
    expect(screen(text)).toBe('x'.repeat(19));
  });

  it('in a log, writes a line every 5 s and the final one, each on its own line', () => {
    const lines: string[] = [];
    let now = 10_000;
    const printer = progressPrinter(
      (t) => lines.push(t),
      { interactive: false },
      () => now,
    );
    printer.update('first', false);
    now += 1_000;
    printer.update('too soon', false);
    now += 5_000;
    printer.update('later', false);
    printer.update('final', true);
    printer.end();
    expect(lines).toEqual(['first\n', 'later\n', 'final\n']);
  });
});
