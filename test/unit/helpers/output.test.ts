import { describe, expect, it } from 'vitest';
import { captureOutput, leakedSecrets } from '../../helpers/output';

describe('captureOutput', () => {
  it('captures console and raw stream writes until restored', () => {
    const output = captureOutput();
    try {
      console.log('via console', { nested: 'object' });
      process.stderr.write('raw write\n');
    } finally {
      output.restore();
    }

    expect(output.text()).toContain('via console');
    expect(output.text()).toContain("nested: 'object'");
    expect(output.text()).toContain('raw write');
  });
});

describe('leakedSecrets', () => {
  it('finds a secret in an error cause, a property or plain text', () => {
    const error = new Error('outer', { cause: Object.assign(new Error('inner'), { token: 'tok-deep' }) });

    expect(leakedSecrets(['tok-deep', 'tok-text', 'absent'], error, 'log line with tok-text')).toEqual([
      'tok-deep',
      'tok-text',
    ]);
  });
});
