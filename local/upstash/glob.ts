/**
 * Redis's glob patterns (PSUBSCRIBE, CONFIG GET, KEYS): `*` any run, `?` one character,
 * `[abc]` / `[a-z]` / `[^a]` a class, `\x` the character x. Compiled to an anchored RegExp.
 */
export function globToRegExp(pattern: string, nocase = false): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) source += escapeChar(pattern[++i] as string);
    else if (c === '[') {
      const close = classEnd(pattern, i + 1);
      if (close === -1) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      let negate = false;
      if (body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      let cls = '';
      for (let j = 0; j < body.length; j++) {
        let ch = body[j] as string;
        if (ch === '\\' && j + 1 < body.length) ch = body[++j] as string;
        if (body[j + 1] === '-' && j + 2 < body.length) {
          let end = body[j + 2] as string;
          if (end === '\\' && j + 3 < body.length) {
            end = body[j + 3] as string;
            j += 1;
          }
          j += 2;
          // Redis accepts a reversed range (z-a) as the same range.
          const [lo, hi] = ch <= end ? [ch, end] : [end, ch];
          cls += `${escapeClass(lo)}-${escapeClass(hi)}`;
        } else cls += escapeClass(ch);
      }
      source += negate ? `[^${cls}]` : cls === '' ? '(?!)' : `[${cls}]`;
      i = close;
    } else source += escapeChar(c);
  }
  return new RegExp(`^${source}$`, nocase ? 'is' : 's');
}

function classEnd(pattern: string, from: number): number {
  for (let i = from; i < pattern.length; i++) {
    if (pattern[i] === '\\') i += 1;
    else if (pattern[i] === ']') return i;
  }
  return -1;
}

const escapeChar = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const escapeClass = (c: string): string => c.replace(/[\]\\^-]/g, '\\$&');

/** A small cache of compiled patterns (a subscriber set repeats the same few). */
export class GlobCache {
  readonly #compiled = new Map<string, RegExp>();

  matches(pattern: string, text: string): boolean {
    let re = this.#compiled.get(pattern);
    if (!re) {
      if (this.#compiled.size > 1000) this.#compiled.clear();
      re = globToRegExp(pattern);
      this.#compiled.set(pattern, re);
    }
    return re.test(text);
  }
}
