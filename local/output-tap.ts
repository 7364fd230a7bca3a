import { currentTag, type RequestTag } from './request-tags';

/**
 * The handlers write their JSON logs and EMF metrics to stdout, as in Lambda. A tap sees every
 * line written while tagged work runs (a request, a scheduled run: `request-tags.ts`), with its
 * tag: the console shows a request's lines one click away, and `npm start` keeps its terminal
 * to one short line per request. Lines written outside tagged work pass untouched.
 */

/** A line written during tagged work. */
export interface TaggedLine {
  readonly tag: RequestTag;
  readonly stream: 'stdout' | 'stderr';
  /** The line, without its line break. */
  readonly text: string;
}

/** What a tap does with the lines. */
export interface OutputTap {
  readonly onLine: (line: TaggedLine) => void;
  /**
   * Whether a tagged line still goes to the terminal; a line is printed when every tap says yes.
   * @default - always
   */
  readonly show?: (line: TaggedLine) => boolean;
}

const taps = new Set<OutputTap>();
let restore: (() => void) | undefined;

function install(): () => void {
  const streams = { stdout: process.stdout, stderr: process.stderr } as const;
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = streams[name];
    const write = originals[name];
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const tag = currentTag();
      if (!tag || taps.size === 0)
        return (write as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      let shown = '';
      for (const part of text.split('\n')) {
        if (part === '') continue;
        const line: TaggedLine = { tag, stream: name, text: part };
        let show = true;
        for (const tap of taps) {
          tap.onLine(line);
          if (tap.show && !tap.show(line)) show = false;
        }
        if (show) shown += `${part}\n`;
      }
      const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      if (shown === '') {
        callback?.();
        return true;
      }
      return (write as (...a: unknown[]) => boolean).call(stream, shown, ...rest);
    }) as typeof stream.write;
  }
  return () => {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  };
}

/** Adds a tap until the returned function is called. */
export function tapOutput(tap: OutputTap): () => void {
  taps.add(tap);
  restore ??= install();
  return () => {
    taps.delete(tap);
    if (taps.size === 0 && restore) {
      restore();
      restore = undefined;
    }
  };
}
