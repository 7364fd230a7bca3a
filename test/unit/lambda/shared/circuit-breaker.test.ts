import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../../lambda/shared/circuit-breaker';
import { UpstashUnavailableError, ValidationError } from '../../../../lambda/shared/errors';

const failed = (roundTrip: object = {}) => new UpstashUnavailableError('down', { roundTrip });

describe('CircuitBreaker', () => {
  const clocked = (options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) => {
    const clock = { now: 0 };
    return { clock, breaker: new CircuitBreaker({ now: () => clock.now, ...options }) };
  };

  it('opens after failureThreshold failed round trips in a row; a success in between resets the count', () => {
    const { breaker } = clocked();
    breaker.failure(failed());
    breaker.failure(failed());
    breaker.success();
    breaker.failure(failed());
    breaker.failure(failed());
    expect(breaker.isOpen).toBe(false);
    expect(breaker.failure(failed())).toBe(true);
    expect(breaker.permit()).toBe('skip');
  });

  it('counts a round trip once, however many commands it carried', () => {
    const { breaker } = clocked();
    const burst = {};
    for (let i = 0; i < 50; i++) breaker.failure(failed(burst));
    expect(breaker.isOpen).toBe(false);
    breaker.failure(failed());
    expect(breaker.isOpen).toBe(false);
    breaker.failure(failed());
    expect(breaker.isOpen).toBe(true);
  });

  it('treats Redis error replies and other errors as answers: they never open it', () => {
    const { breaker } = clocked({ failureThreshold: 1 });
    breaker.failure(new Error('NOSCRIPT No matching script'));
    breaker.failure(new ValidationError('bad'));
    expect(breaker.isOpen).toBe(false);
  });

  it('opens on a failure rate over the window even with successes in between', () => {
    const { clock, breaker } = clocked({ failureThreshold: 100, minimumCalls: 10, failureRate: 0.5 });
    for (let i = 0; i < 4; i++) {
      breaker.success();
      breaker.failure(failed());
      clock.now += 100;
    }
    expect(breaker.isOpen).toBe(false); // 8 outcomes: below minimumCalls
    breaker.success();
    breaker.failure(failed());
    expect(breaker.isOpen).toBe(true); // 10 outcomes, half failed
  });

  it('forgets outcomes older than the window', () => {
    const { clock, breaker } = clocked({ failureThreshold: 100, minimumCalls: 4, windowMs: 1_000 });
    breaker.failure(failed());
    breaker.failure(failed());
    clock.now += 2_000;
    breaker.success();
    breaker.success();
    breaker.success();
    breaker.failure(failed());
    expect(breaker.isOpen).toBe(false); // 1 of 4 in the window
  });

  it('lets one probe through after firstProbeMs, doubling the wait while probes fail, and closes on success', () => {
    const { clock, breaker } = clocked({ failureThreshold: 1, firstProbeMs: 1_000, probeIntervalMs: 3_000 });
    breaker.failure(failed());
    expect(breaker.permit()).toBe('skip');
    clock.now = 1_000;
    expect(breaker.permit()).toBe('probe');
    expect(breaker.permit()).toBe('skip'); // one probe at a time
    breaker.failure(failed());
    clock.now = 2_999;
    expect(breaker.permit()).toBe('skip');
    clock.now = 3_000;
    expect(breaker.permit()).toBe('probe');
    breaker.failure(failed());
    clock.now = 5_999;
    expect(breaker.permit()).toBe('skip'); // 4 s capped at probeIntervalMs 3 s
    clock.now = 6_000;
    expect(breaker.permit()).toBe('probe');
    breaker.success();
    expect(breaker.isOpen).toBe(false);
    expect(breaker.permit()).toBe('call');
    // A new outage starts again from firstProbeMs.
    breaker.failure(failed());
    clock.now = 7_000;
    expect(breaker.permit()).toBe('probe');
  });

  it('rejects settings that cannot work', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(ValidationError);
    expect(() => new CircuitBreaker({ failureRate: 1.5 })).toThrow(ValidationError);
  });
});
