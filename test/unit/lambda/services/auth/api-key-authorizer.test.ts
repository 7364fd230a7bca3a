import { describe, expect, it } from 'vitest';
import { ApiKeyAuthorizer } from '../../../../../lambda/services/auth/api-key-authorizer';
import { mintApiKey, serializeApiKeySet } from '../../../../../lambda/shared/api-keys';

describe('ApiKeyAuthorizer', () => {
  const acme = mintApiKey('acme');
  const globex = mintApiKey('globex');

  /** A secret whose value the test changes, counting reads. */
  function secret(initial: string | undefined) {
    const state = { value: initial, reads: 0, fail: false };
    const load = async () => {
      state.reads += 1;
      if (state.fail) throw new Error('Secrets Manager unavailable');
      return state.value;
    };
    return { state, load };
  }

  it('stops accepting a revoked key once the set is older than maxAgeMs', async () => {
    let now = 0;
    const { state, load } = secret(serializeApiKeySet({ keys: [acme.record, globex.record] }));
    const auth = new ApiKeyAuthorizer({ loadSecret: load, maxAgeMs: 300_000, now: () => now });
    expect((await auth.authorize(acme.key))?.tenant).toBe('acme');
    state.value = serializeApiKeySet({ keys: [globex.record] }); // acme revoked
    now += 299_999;
    expect((await auth.authorize(acme.key))?.tenant).toBe('acme'); // still the cached set
    now += 1;
    expect(await auth.authorize(acme.key)).toBeNull();
    expect((await auth.authorize(globex.key))?.tenant).toBe('globex');
    expect(state.reads).toBe(2);
  });

  it('shares one read among concurrent first calls, and retries a failed read on the next call', async () => {
    const { state, load } = secret(serializeApiKeySet({ keys: [acme.record] }));
    const auth = new ApiKeyAuthorizer({ loadSecret: load });
    state.fail = true;
    await expect(auth.authorize(acme.key)).rejects.toThrow('Secrets Manager unavailable');
    state.fail = false;
    const results = await Promise.all(Array.from({ length: 10 }, () => auth.authorize(acme.key)));
    expect(results.every((r) => r?.tenant === 'acme')).toBe(true);
    expect(state.reads).toBe(2);
  });

  it('denies without reading for a missing, empty or oversized key', async () => {
    const { state, load } = secret(undefined);
    const auth = new ApiKeyAuthorizer({ loadSecret: load });
    for (const key of [undefined, '', 'x'.repeat(257)]) expect(await auth.authorize(key)).toBeNull();
    expect(state.reads).toBe(0);
  });
});
