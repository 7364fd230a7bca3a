import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../lambda/shared/errors';
import { canonicalJson } from '../../../../lambda/shared/json';
import {
  fields,
  id,
  jsonObject,
  keyPrefix,
  parseWith,
  wholeNumber,
} from '../../../../lambda/shared/validation';

describe('request validation (valibot)', () => {
  const body = fields({ userId: id('userId'), cost: v.optional(wholeNumber('cost', 1, 10)) });
  const refusal = (schema: v.GenericSchema, value: unknown) => {
    try {
      parseWith(schema, value);
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return (error as Error).message;
    }
    throw new Error('accepted');
  };

  it("names the field in every refusal, in the API's wording, an unknown field first", () => {
    expect(refusal(body, { userId: 'u', costs: 1 })).toBe('unknown field "costs"; allowed: userId, cost');
    expect(refusal(body, { cost: 0, x: 1 })).toBe('unknown field "x"; allowed: userId, cost');
    expect(refusal(body, {})).toBe('userId is required');
    expect(refusal(body, { userId: '' })).toBe('userId must be a non-empty string');
    expect(refusal(body, { userId: 'a*' })).toBe(
      'userId must not contain control characters or any of * ? [ ] \\',
    );
    expect(refusal(body, { userId: 'u', cost: 1.5 })).toBe('cost must be a whole number from 1 to 10');
    expect(refusal(body, [])).toBe('the body must be a JSON object');
    expect(refusal(fields({ n: v.number() }), {})).toBe('n is required');
    expect(refusal(keyPrefix('p'), 5)).toBe('prefix must be a string ("" for every key)');
    expect(parseWith(keyPrefix('p'), '')).toBe('');
  });

  it('refuses __proto__ as a field, and passes a JSON object of any fields on exactly as parsed', () => {
    const risky = JSON.parse('{"__proto__":{"admin":true},"constructor":1,"prototype":[1]}');
    expect(refusal(body, JSON.parse('{"userId":"u","__proto__":{}}'))).toContain('"__proto__"');
    const data = parseWith(fields({ data: jsonObject('data must be a JSON object', 'fields') }), {
      data: risky,
    });
    expect(data.data).toBe(risky);
    expect(refusal(jsonObject('data must be a JSON object', 'x'), [1])).toBe('data must be a JSON object');
  });

  it('gives canonical JSON: key order and spacing aside, with __proto__ keys as data', () => {
    expect(canonicalJson(JSON.parse('{ "b": [1, {"d":1,"c":2}], "a": null }'))).toBe(
      '{"a":null,"b":[1,{"c":2,"d":1}]}',
    );
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":1}'))).toBe('{"__proto__":{"x":1},"a":1}');
    expect(canonicalJson('x')).toBe('"x"');
  });
});
