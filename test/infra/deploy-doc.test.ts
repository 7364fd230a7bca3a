import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../lambda/shared/metric-definitions';
import { PLAN_PRESET_NAMES, PRICES_READ_ON } from '../../lib/plans';
import { synthesize, TWO_DATABASES } from './helpers';

/** docs/deploy.md keeps up with what the code defines: every metric, alarm, preset and the price date. */
describe('docs/deploy.md', () => {
  const text = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');

  it('lists every custom metric', () => {
    for (const metric of Object.values(METRICS)) expect(text, metric.name).toContain(`\`${metric.name}\``);
  });

  it('explains every kind of alarm the monitoring stack defines', () => {
    const s = synthesize({
      ...TWO_DATABASES,
      databases: { cache: { plan: 'free' }, state: {} },
    });
    const kinds = new Set(
      s.monitoring.alarms.map((alarm) =>
        alarm.node.id
          .replace(
            /^(ApiFunction|AuthorizerFunction|QueueWorkerFunction|MaintenanceFunction|UsageProbeFunction)/,
            '<Function>',
          )
          .replace(/-(cache|state|default)$/, '-'),
      ),
    );
    for (const kind of kinds) expect(text, kind).toContain(`\`${kind}`);
  });

  it('names the plans and the date their prices were read', () => {
    for (const preset of PLAN_PRESET_NAMES) expect(text).toContain(`\`${preset}\``);
    expect(text).toContain(PRICES_READ_ON);
  });
});
