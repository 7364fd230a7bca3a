import { AsyncLocalStorage } from 'node:async_hooks';
import { TAG_HEADER } from './upstash/server';

/**
 * Which piece of local work an Upstash call belongs to: the gateway runs each HTTP request, the
 * scheduler each run and the console each of its own calls inside {@link withTag}, and every
 * `fetch` to a local Upstash endpoint made meanwhile (by the handlers' `@upstash/redis`, however
 * deep) carries the tag in a header. The endpoint then reports each request's cost under it, so
 * the console shows what a request cost as the database counted it. Dev tooling only: nothing in
 * `lambda/` knows of it.
 */

/** Who is doing the work. */
export type TagKind = 'api' | 'scheduled' | 'console';

/** A tag: `<kind>:<id>` on the wire. */
export interface RequestTag {
  readonly kind: TagKind;
  /** The gateway's request id, a scheduled run's id, or the console's. */
  readonly id: string;
}

const storage = new AsyncLocalStorage<RequestTag>();

/** Runs `fn` with `tag` on every Upstash call it causes, background ones included. */
export const withTag = <T>(tag: RequestTag, fn: () => T): T => storage.run(tag, fn);

/** Runs `fn` outside any tagged work (what it writes is the stack's own, not a request's). */
export const untagged = <T>(fn: () => T): T => storage.exit(fn);

/** The tag of the work running now, if any. */
export const currentTag = (): RequestTag | undefined => storage.getStore();

/** The header value of a tag. */
export const tagValue = (tag: RequestTag): string => `${tag.kind}:${tag.id}`;

/** A tag from its header value; undefined for anything else. */
export function parseTag(value: string | undefined): RequestTag | undefined {
  const match = value ? /^(api|scheduled|console):(.+)$/.exec(value) : null;
  return match ? { kind: match[1] as TagKind, id: match[2] as string } : undefined;
}

const endpoints = new Set<string>();
let original: typeof fetch | undefined;

/**
 * Tags calls to the endpoint at `url` (an origin like `http://127.0.0.1:41234`) until the returned
 * function is called. Wraps the global `fetch` once per process; calls elsewhere pass untouched.
 */
export function tagCallsTo(url: string): () => void {
  const origin = new URL(url).origin;
  endpoints.add(origin);
  if (!original) {
    const plain = globalThis.fetch;
    original = plain;
    globalThis.fetch = (input, init) => {
      const tag = storage.getStore();
      if (!tag || endpoints.size === 0) return plain(input, init);
      const target = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!endpoints.has(originOf(target))) return plain(input, init);
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set(TAG_HEADER, tagValue(tag));
      return plain(input, { ...init, headers });
    };
  }
  return () => endpoints.delete(origin);
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}
