import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder, validateId, validateTenant } from '../../../../lambda/shared/keys';

describe('KeyBuilder', () => {
  const keys = new KeyBuilder('app');

  it('builds prefix:feature:tenant:id', () => {
    expect(keys.key('cache', 'acme', 'user:42')).toBe('app:cache:acme:user:42');
    expect(keys.internal('session', 'acme', 'user', 'u1')).toBe('app:session:acme:user:u1');
    expect(keys.global('queue', 'ready')).toBe('app:queue:_:ready');
    expect(keys.pattern('cache', 'acme', 'users:')).toBe('app:cache:acme:users:*');
  });

  it('refuses a bad prefix with the value in the message', () => {
    expect(() => new KeyBuilder('a:b')).toThrow(/got "a:b"/);
  });

  it.each([
    ['', 'empty'],
    ['a*', 'glob star'],
    ['a?', 'glob question mark'],
    ['a[b]', 'glob class'],
    ['a\\b', 'backslash'],
    ['a\nb', 'newline'],
    ['a\u0000b', 'NUL'],
    ['a\u0085b', 'C1 control'],
    ['x'.repeat(513), 'too long'],
    ['é'.repeat(257), 'too many bytes'],
    ['\ud800', 'lone surrogate'],
  ])('rejects the id %j (%s) with a ValidationError', (id) => {
    expect(() => keys.key('cache', 'acme', id)).toThrow(ValidationError);
  });

  it.each(['..', ':', 'a:b:c', '../../etc', 'ключ', '🚀', 'x'.repeat(512)])(
    'accepts the id %j inside the tenant',
    (id) => {
      expect(keys.key('cache', 'acme', id)).toBe(`app:cache:acme:${id}`);
    },
  );

  it('keeps ids of one tenant from ever producing another tenant key', () => {
    // Tenants cannot hold a colon, so tenant "a" with id "b:x" is the only way to spell that key.
    expect(keys.key('cache', 'a', 'b:x')).toBe('app:cache:a:b:x');
    expect(() => keys.key('cache', 'a:b', 'x')).toThrow(ValidationError);
  });

  it.each(['', '_', '-x', 'a:b', 'a b', 'x'.repeat(65), 'é'])('rejects the tenant %j', (tenant) => {
    expect(() => validateTenant(tenant)).toThrow(ValidationError);
  });

  it('names what it validates', () => {
    expect(() => validateId('', 'session id')).toThrow('session id must not be empty');
  });
});
