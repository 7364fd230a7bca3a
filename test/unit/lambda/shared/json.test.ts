import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../lambda/shared/errors';
import {
  checkJsonDepth,
  checkJsonTextDepth,
  MAX_JSON_DEPTH,
  parseJson,
  setField,
  stringifyJson,
} from '../../../../lambda/shared/json';

const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('the one JSON path', () => {
  it('parses text nested up to the limit and refuses one level more', () => {
    expect(parseJson(arrays(MAX_JSON_DEPTH))).toHaveLength(1);
    expect(() => parseJson(arrays(MAX_JSON_DEPTH + 1))).toThrow(ValidationError);
    expect(() => parseJson(`{"a":${arrays(MAX_JSON_DEPTH)}}`)).toThrow(/nested deeper than 64 levels/);
  });

  it('refuses 100,000 levels without overflowing the stack, before parsing', () => {
    expect(() => parseJson(`${'['.repeat(100_000)}`)).toThrow(/nested deeper/);
    expect(() => checkJsonTextDepth('{"a":'.repeat(100_000), 64)).toThrow(ValidationError);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: `"[[[{{{\\"${'['.repeat(200)}` });
    expect(parseJson(text)).toEqual(JSON.parse(text));
  });

  it('answers every malformed text with a ValidationError, never another error (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        try {
          expect(parseJson(text)).toEqual(JSON.parse(text));
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips any JSON value within the limit exactly, keys like __proto__ included (property)', () => {
    const key = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toJSON'), fc.string());
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 2 }),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(key, tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const text = JSON.stringify(v);
        const parsed = parseJson(text);
        expect(stringifyJson(parsed)).toBe(text);
        if (parsed !== null && typeof parsed === 'object') {
          expect(Object.getPrototypeOf(parsed)).toBeOneOf([Object.prototype, Array.prototype]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('checks the depth of values to store without recursion, and refuses cycles', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => stringifyJson(deep, 'the payload')).toThrow(/the payload is nested deeper than 64/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => stringifyJson(cyclic)).toThrow(ValidationError);
    expect(() => stringifyJson(undefined)).toThrow(/got undefined/);
    expect(() => stringifyJson({ n: 10n })).toThrow(/JSON-serializable/);
    expect(stringifyJson({ at: new Date(0), skip: undefined })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });

  it('walks a graph of shared references once per depth, not once per path', () => {
    // 60 levels of [x, x]: 2^60 paths, 60 distinct objects.
    let shared: unknown = 1;
    for (let i = 0; i < 60; i++) shared = [shared, shared];
    expect(() => checkJsonDepth(shared)).not.toThrow();
  });

  it('adds a field named __proto__ as data, never as the prototype', () => {
    const target: Record<string, unknown> = {};
    setField(target, '__proto__', { admin: true });
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype);
    expect(Object.keys(target)).toEqual(['__proto__']);
    expect((target as { admin?: unknown }).admin).toBeUndefined();
    expect(JSON.stringify(target)).toBe('{"__proto__":{"admin":true}}');
  });
});
