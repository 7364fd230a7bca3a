import type { StackInfo } from '../api';
import { h } from '../dom';

/** A tenant field that suggests the tenants holding API keys (each view has its own). */
export function tenantField(stack: StackInfo, id: string): HTMLLabelElement {
  const list = `${id}-tenants`;
  return h(
    'label',
    {},
    'Tenant',
    h('input', {
      name: 'tenant',
      id,
      required: true,
      value: stack.tenant,
      list,
      autocomplete: 'off',
      size: 14,
    }),
    h('datalist', { id: list }, ...stack.tenants.map((t) => h('option', { value: t }))),
  );
}
