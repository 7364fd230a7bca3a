import { inspect } from 'node:util';

/** What {@link captureOutput} collected; `restore()` puts the real streams back. */
export interface CapturedOutput {
  /** Everything written to stdout, stderr and the console since capture started. */
  text(): string;
  restore(): void;
}

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

/**
 * Captures everything the code under test prints: `process.stdout`/`process.stderr` writes
 * (Powertools Logger, raw writes) and every `console` method (vitest routes those elsewhere).
 * Output is swallowed while captured. Call `restore()` in `afterEach`/`finally`.
 */
export function captureOutput(): CapturedOutput {
  const chunks: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const originals = CONSOLE_METHODS.map((method) => [method, console[method]] as const);
  const record = (chunk: unknown): boolean => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = record as typeof process.stdout.write;
  process.stderr.write = record as typeof process.stderr.write;
  for (const method of CONSOLE_METHODS) {
    console[method] = (...args: unknown[]) => {
      chunks.push(`${args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 6 }))).join(' ')}\n`);
    };
  }
  return {
    text: () => chunks.join(''),
    restore() {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
      for (const [method, original] of originals) console[method] = original;
    },
  };
}

/**
 * Every rendering of `value` a log line or response could contain: for errors the message,
 * stack, `toJSON()`, `util.inspect` (own properties included) and the same for each `cause`.
 */
export function renderForLeakCheck(value: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown, depth: number) => {
    if (depth > 5 || seen.has(v)) return;
    seen.add(v);
    parts.push(typeof v === 'string' ? v : inspect(v, { depth: 8, showHidden: true }));
    if (v instanceof Error) {
      parts.push(v.message, v.stack ?? '');
      const json = (v as { toJSON?: () => unknown }).toJSON;
      if (typeof json === 'function') parts.push(JSON.stringify(json.call(v)));
      visit(v.cause, depth + 1);
    }
  };
  visit(value, 0);
  return parts.join('\n');
}

/** The secrets among `secrets` that appear in any rendering of `values` (should be none). */
export function leakedSecrets(secrets: readonly string[], ...values: unknown[]): string[] {
  const text = values.map(renderForLeakCheck).join('\n');
  return secrets.filter((secret) => secret !== '' && text.includes(secret));
}
