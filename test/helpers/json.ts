/**
 * JSON text with keys sorted at every depth, own `__proto__` keys included: two values that hold
 * the same data compare equal whatever their key order (vitest's equality treats a `__proto__`
 * key as the prototype, so compare this text instead).
 */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}
