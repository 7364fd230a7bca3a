/** Small DOM helpers: elements from a tag, attributes and children; formats for people. */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

/** An element with attributes (`on<event>` for listeners; `true` for a bare attribute) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, ...children);
  return element;
}

/** Appends children, skipping empty ones. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** The element with this id (the page's skeleton has each). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element as T;
}

/** 1,234 */
export const count = (n: number): string => n.toLocaleString('en-US');

/** 12 ms, 1.5 s */
export const duration = (ms: number): string =>
  ms < 1000 ? `${Math.round(ms * 10) / 10} ms` : `${Math.round(ms / 100) / 10} s`;

/** A TTL from PTTL: "no expiry", "gone", "59 s". */
export const ttl = (ms: number): string => (ms === -1 ? 'no expiry' : ms < 0 ? 'gone' : duration(ms));

/** 1.2 KB */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${Math.round((n / 1024) * 10) / 10} KB`;
  return `${Math.round((n / 1024 ** 2) * 10) / 10} MB`;
}

/** $0.0123 or $12.30 */
export const usd = (n: number): string => `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`;

/** 14:03:07 */
export const clock = (epochMs: number): string =>
  new Date(epochMs).toLocaleTimeString('en-GB', { hour12: false });

/** A form's named text fields. */
export function fields(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of new FormData(form)) out[name] = String(value).trim();
  return out;
}

/** A short message in `place`: done, or what went wrong. */
export function say(place: Element, text: string, error = false): void {
  replace(place, h('p', { class: error ? 'message error' : 'message' }, text));
}
