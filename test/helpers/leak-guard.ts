import { afterAll, inject } from 'vitest';

/**
 * Suite-wide guard (a vitest setup file, so it runs in every test file's process): everything the
 * code under test writes to stdout and stderr, and everything it passes to `console`, is scanned
 * for the Upstash tokens of the shared endpoint. A file whose output ever contains one fails.
 * Tests that capture output themselves (`captureOutput`) check what they capture with
 * `leakedSecrets`; this guard covers everything else.
 */
const tokens = [inject('stateToken'), inject('cacheToken')];
const leaks: string[] = [];

function scan(where: string, value: unknown): void {
  const text =
    typeof value === 'string'
      ? value
      : value instanceof Uint8Array
        ? Buffer.from(value).toString('utf8')
        : String(value);
  for (const token of tokens) if (text.includes(token)) leaks.push(`${where}: …${text.slice(0, 120)}…`);
}

function render(value: unknown): string {
  if (value instanceof Error) return `${value.message} ${value.stack ?? ''}`;
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

for (const [name, stream] of [
  ['stdout', process.stdout],
  ['stderr', process.stderr],
] as const) {
  const write = stream.write.bind(stream);
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    scan(name, chunk);
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof stream.write;
}
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    for (const arg of args) scan(`console.${method}`, render(arg));
    original(...args);
  };
}

afterAll(() => {
  if (leaks.length > 0) throw new Error(`an Upstash token reached the output:\n${leaks.join('\n')}`);
});
