import type { IncomingMessage } from 'node:http';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/** A request the endpoint refuses before Redis sees it: answered with `status` and JSON. */
export class BadRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * Upstash's limit for one request on its free and pay-as-you-go plans ("ERR max request size
 * exceeded", upstash.com/docs/redis/troubleshooting/max_request_size_exceeded).
 */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/**
 * Reads the whole body even past the limit, so an oversize request still gets its 413 JSON
 * answer instead of a reset socket (which clients retry and blame on the network).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limit) resolve('too-large');
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}

/** Converts a JSON value into a Redis argument the way JavaScript's `String(x)` does. */
function toArgument(value: unknown): string {
  if (typeof value === 'string') return value;
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean')
    return String(value);
  throw new BadRequestError(
    `ERR invalid argument: expected a string, number or boolean, got ${JSON.stringify(value)}`,
  );
}

/** A command from its JSON form: a non-empty array of strings, numbers and booleans. */
export function toCommand(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError('ERR invalid command: expected a non-empty JSON array such as ["GET","key"]');
  }
  // All strings (the usual case): the parsed array is the command, no copy made.
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'string') return value.map(toArgument);
  }
  return value as string[];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError('ERR malformed JSON request body');
  }
}

/** `POST /`: one command. */
export function parseCommand(body: Buffer): string[] {
  return toCommand(parseJson(body.toString('utf8')));
}

/** Bodies above this are parsed in slices (see {@link parseCommandList}). */
const SLICED_PARSE_BYTES = 1024 * 1024;
/** Bytes of JSON parsed between two yields to the event loop. */
const PARSE_SLICE_BYTES = 512 * 1024;

/**
 * `POST /pipeline` and `/multi-exec`: a non-empty array of commands. A body of several MB is
 * split at its top-level commas and parsed slice by slice, letting other requests in between: one
 * JSON.parse of 10 MB holds the process for tens of milliseconds. Every command is checked
 * before any runs, so bad input changes nothing.
 */
export async function parseCommandList(body: Buffer): Promise<string[][]> {
  const values =
    body.length <= SLICED_PARSE_BYTES ? parseJson(body.toString('utf8')) : await parseSliced(body);
  if (!Array.isArray(values) || values.length === 0) {
    throw new BadRequestError('ERR invalid pipeline: expected a non-empty JSON array of commands');
  }
  const commands = new Array<string[]>(values.length);
  for (let i = 0; i < values.length; i++) {
    commands[i] = toCommand(values[i]);
    if (i % 20_000 === 19_999) await yieldToLoop();
  }
  return commands;
}

const isSpace = (b: number | undefined) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * Parses a JSON array from its bytes in slices of whole elements. Scanning bytes is enough to
 * find the top-level commas: they are ASCII, and no byte of a multi-byte UTF-8 character is.
 */
async function parseSliced(body: Buffer): Promise<unknown> {
  let i = 0;
  while (isSpace(body[i])) i++;
  // Not an array: small enough to fail (or succeed) in one go.
  if (body[i] !== 0x5b) return parseJson(body.toString('utf8'));
  const values: unknown[] = [];
  let depth = 1;
  let inString = false;
  let sliceStart = i + 1;
  let end = -1;
  for (i += 1; i < body.length; i++) {
    const b = body[i];
    if (inString) {
      if (b === 0x5c) i += 1;
      else if (b === 0x22) inString = false;
      continue;
    }
    if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) depth += 1;
    else if (b === 0x5d || b === 0x7d) {
      depth -= 1;
      if (depth === 0) {
        end = i;
        break;
      }
    } else if (b === 0x2c && depth === 1 && i - sliceStart >= PARSE_SLICE_BYTES) {
      for (const value of parseJson(`[${body.toString('utf8', sliceStart, i)}]`) as unknown[])
        values.push(value);
      sliceStart = i + 1;
      await yieldToLoop();
    }
  }
  if (end === -1) throw new BadRequestError('ERR malformed JSON request body');
  for (let j = end + 1; j < body.length; j++) {
    if (!isSpace(body[j])) throw new BadRequestError('ERR malformed JSON request body');
  }
  const last = body.toString('utf8', sliceStart, end);
  if (values.length > 0 && last.trim() === '') throw new BadRequestError('ERR malformed JSON request body');
  for (const value of parseJson(`[${last}]`) as unknown[]) values.push(value);
  return values;
}
