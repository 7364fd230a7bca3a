import { describe, expect, it } from 'vitest';
import {
  expiryOf,
  findApiKey,
  hashApiKey,
  hasScope,
  isExpired,
  mintApiKey,
  parseApiKeySet,
  serializeApiKeySet,
} from '../../../../lambda/shared/api-keys';

describe('api keys', () => {
  it('mints a 256-bit key and stores only its SHA-256', () => {
    const { key, record } = mintApiKey('acme', ['cache:read', 'jobs'], new Date('2026-11-24T00:00:00Z'));
    expect(key).toMatch(/^usk_[A-Za-z0-9_-]{43}$/);
    expect(record).toEqual({
      id: expect.stringMatching(/^k_[0-9a-f]{8}$/),
      hash: hashApiKey(key),
      tenant: 'acme',
      scopes: ['cache:read', 'jobs'],
      createdAt: '2026-11-24T00:00:00.000Z',
    });
    expect(serializeApiKeySet({ keys: [record] })).not.toContain(key);
    expect(mintApiKey('acme').key).not.toBe(key);
  });

  it('keeps an optional label and expiry, and reads them back from the secret', () => {
    const now = new Date('2026-11-24T00:00:00Z');
    const { record } = mintApiKey('acme', ['*'], now, {
      label: 'deploys from CI',
      expiresAt: new Date('2026-12-24T00:00:00Z'),
    });
    expect(record).toMatchObject({ label: 'deploys from CI', expiresAt: '2026-12-24T00:00:00.000Z' });
    const [read] = parseApiKeySet(serializeApiKeySet({ keys: [record] })).keys;
    expect(read).toEqual(record);
    expect(expiryOf(record)).toBe(Date.parse('2026-12-24T00:00:00Z'));
    expect(isExpired(record, Date.parse('2026-12-23T23:59:59Z'))).toBe(false);
    expect(isExpired(record, Date.parse('2026-12-24T00:00:00Z'))).toBe(true);
    expect(isExpired(mintApiKey('acme').record)).toBe(false);
  });

  it('refuses an expiry that is not in the future, a bad label, or a malformed one in the secret', () => {
    const now = new Date('2026-11-24T00:00:00Z');
    expect(() => mintApiKey('acme', ['*'], now, { expiresAt: now })).toThrow(/future/);
    expect(() => mintApiKey('acme', ['*'], now, { label: '' })).toThrow(/label/);
    expect(() => mintApiKey('acme', ['*'], now, { label: 'x'.repeat(101) })).toThrow(/label/);
    const { record } = mintApiKey('acme');
    expect(() => parseApiKeySet(JSON.stringify({ keys: [{ ...record, expiresAt: 'soon' }] }))).toThrow(
      /keys\[0\]\.expiresAt/,
    );
  });

  it('rejects a bad tenant or an unknown scope', () => {
    expect(() => mintApiKey('bad tenant')).toThrow(/tenant/);
    expect(() => mintApiKey('acme', ['cache:admin'])).toThrow(/unknown scope "cache:admin"/);
    expect(() => mintApiKey('acme', [])).toThrow(/at least one scope/);
  });

  it('finds the record of a key among many, and nothing for a near miss', () => {
    const minted = Array.from({ length: 5 }, (_, i) => mintApiKey(`t${i}`));
    const set = { keys: minted.map((m) => m.record) };
    expect(findApiKey(set, minted[3]?.key as string)?.tenant).toBe('t3');
    expect(findApiKey(set, `${minted[3]?.key}x`)).toBeNull();
    expect(findApiKey({ keys: [] }, minted[0]?.key as string)).toBeNull();
  });

  it('parses an empty secret as no keys, and names the bad entry without quoting it', () => {
    expect(parseApiKeySet(undefined)).toEqual({ keys: [] });
    expect(parseApiKeySet('  ')).toEqual({ keys: [] });
    const good = mintApiKey('acme').record;
    expect(parseApiKeySet(serializeApiKeySet({ keys: [good] })).keys).toEqual([good]);
    expect(() => parseApiKeySet('{')).toThrow('the API-key secret is not JSON');
    expect(() => parseApiKeySet('{"keys":{}}')).toThrow(/must be \{"keys": \[\.\.\.\]\}/);
    const badHash = JSON.stringify({ keys: [good, { ...good, hash: 'ABC-secretish' }] });
    expect(() => parseApiKeySet(badHash)).toThrow('keys[1].hash must be 64 lower-case hex digits');
    expect(() => parseApiKeySet(badHash)).not.toThrow(/secretish/);
  });

  it('grants a scope when listed or with *', () => {
    expect(hasScope(['*'], 'jobs')).toBe(true);
    expect(hasScope(['jobs'], 'jobs')).toBe(true);
    expect(hasScope(['cache:read'], 'cache:write')).toBe(false);
  });
});
