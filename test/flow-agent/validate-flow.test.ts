import { describe, expect, it } from 'vitest';
import { ACTIONS, TRIGGERS } from '../../steps/flow-agent/flow-catalog.js';
import type { FlowWorkflow } from '../../steps/flow-agent/flow-workflow.js';
import { validateFlow } from '../../steps/flow-agent/validate-flow.js';

const vipOrders: FlowWorkflow = {
  name: 'Tag big orders VIP',
  steps: [
    { step_id: 'trigger', task_id: 'shopify::admin::order_created', task_type: 'TRIGGER', config: {} },
    {
      step_id: 'big',
      task_id: 'shopify::flow::condition',
      task_type: 'CONDITION',
      config: {
        condition: {
          kind: 'group',
          connectives: ['&&'],
          terms: [
            { kind: 'compare', field: 'order.totalPrice', operator: '>', value: 200 },
            {
              kind: 'quantifier',
              quantifier: 'none',
              field: 'order.tags',
              as: 'tag',
              condition: { kind: 'compare', field: 'tag', operator: '==', value: 'VIP' },
            },
          ],
        },
      },
    },
    { step_id: 'tag-customer', task_id: 'shopify::admin::add_customer_tags', task_type: 'ACTION', config: { tags: ['VIP'] } },
    { step_id: 'tag-order', task_id: 'shopify::admin::add_order_tags', task_type: 'ACTION', config: { tags: ['big-order'] } },
  ],
  links: [
    { from: 'trigger', port: 'output', to: 'big' },
    { from: 'big', port: 'true', to: 'tag-customer' },
    { from: 'tag-customer', port: 'output', to: 'tag-order' },
  ],
};

const riskyOrderSweep: FlowWorkflow = {
  name: 'Nightly: cancel high-risk unpaid orders, then email the team',
  steps: [
    { step_id: 'nightly', task_id: 'shopify::flow::scheduled_time', task_type: 'TRIGGER', config: {} },
    { step_id: 'orders', task_id: 'shopify::flow::get_order_data', task_type: 'ACTION', config: { query: 'financial_status:pending', maxResults: 100 } },
    { step_id: 'each', task_id: 'shopify::flow::for_each', task_type: 'FOREACH', config: { items: 'getOrderData', itemName: 'order' } },
    {
      step_id: 'risky',
      task_id: 'shopify::flow::condition',
      task_type: 'CONDITION',
      config: {
        condition: {
          kind: 'group',
          connectives: ['||'],
          terms: [
            { kind: 'compare', field: 'order.riskLevel', operator: 'in?', value: ['HIGH', 'MEDIUM'] },
            { kind: 'check', field: 'order.email', operator: 'empty_or_nil?' },
          ],
        },
      },
    },
    { step_id: 'cancel', task_id: 'shopify::admin::cancel_order', task_type: 'ACTION', config: { reason: 'FRAUD', notifyCustomer: 'no' } },
    {
      step_id: 'email',
      task_id: 'shopify::flow::send_internal_email',
      task_type: 'ACTION',
      config: { to: 'ops@example.com', subject: 'Risk sweep done', body: 'Checked orders at {{ schedule.scheduledAt }}' },
    },
  ],
  links: [
    { from: 'nightly', port: 'output', to: 'orders' },
    { from: 'orders', port: 'output', to: 'each' },
    { from: 'each', port: 'loop_body', to: 'risky' },
    { from: 'risky', port: 'true', to: 'cancel' },
    { from: 'each', port: 'after', to: 'email' },
  ],
};

const newsletterSignup: FlowWorkflow = {
  name: 'Company customers who accept marketing go to Klaviyo',
  steps: [
    { step_id: 'created', task_id: 'shopify::admin::customer_created', task_type: 'TRIGGER', config: {} },
    {
      step_id: 'company',
      task_id: 'shopify::flow::condition',
      task_type: 'CONDITION',
      config: {
        condition: {
          kind: 'group',
          connectives: ['&&'],
          terms: [
            { kind: 'compare', field: 'customer.email', operator: 'ends_with?', value: '@acme.com' },
            { kind: 'compare', field: 'customer.acceptsMarketing', operator: '==', value: true },
          ],
        },
      },
    },
    { step_id: 'list', task_id: 'klaviyo::add_profile_to_list', task_type: 'ACTION', config: { listId: 'XyZ12' } },
    {
      step_id: 'notify',
      task_id: 'shopify::flow::send_http_request',
      task_type: 'ACTION',
      config: { method: 'POST', url: 'https://hooks.example.com/new', body: '{"email": "{{ customer.email }}"}' },
    },
  ],
  links: [
    { from: 'created', port: 'output', to: 'company' },
    { from: 'company', port: 'true', to: 'list' },
    { from: 'company', port: 'false', to: 'notify' },
  ],
};

const VALID = { vipOrders, riskyOrderSweep, newsletterSignup };

/** A copy of a valid workflow with one thing broken. */
function mutate(base: FlowWorkflow, change: (w: FlowWorkflow) => void): FlowWorkflow {
  const copy = structuredClone(base);
  change(copy);
  return copy;
}
const step = (w: FlowWorkflow, id: string) => w.steps.find((s) => s.step_id === id) as FlowWorkflow['steps'][number];
const condition = (w: FlowWorkflow, id: string) => step(w, id).config.condition as { terms: Array<Record<string, unknown>>; connectives: string[] };

const MUTATIONS: Array<[string, FlowWorkflow, 'config_field' | 'condition' | 'foreach_body' | 'task', string]> = [
  [
    'no trigger',
    mutate(vipOrders, (w) => {
      w.steps = w.steps.filter((s) => s.task_type !== 'TRIGGER');
      w.links = w.links.filter((l) => l.from !== 'trigger');
    }),
    'task',
    'NO_TRIGGER',
  ],
  [
    'no action',
    mutate(newsletterSignup, (w) => {
      w.steps = w.steps.filter((s) => s.task_type !== 'ACTION');
      w.links = w.links.filter((l) => l.from === 'created');
    }),
    'task',
    'NO_ACTION',
  ],
  [
    'a condition linked from its output port',
    mutate(vipOrders, (w) => {
      (w.links[1] as { port: string }).port = 'output';
    }),
    'condition',
    'WRONG_PORT',
  ],
  [
    'a string operator on a Money field',
    mutate(vipOrders, (w) => {
      condition(w, 'big').terms[0]!.operator = 'starts_with?';
      condition(w, 'big').terms[0]!.value = '2';
    }),
    'condition',
    'OPERATOR_TYPE_MISMATCH',
  ],
  [
    '&& and || mixed at one level',
    mutate(newsletterSignup, (w) => {
      const c = condition(w, 'company');
      c.terms.push({ kind: 'check', field: 'customer.phone', operator: 'empty_or_nil?' });
      c.connectives.push('||');
    }),
    'condition',
    'MIXED_CONNECTIVES',
  ],
  [
    'a for-each item used after its loop',
    mutate(riskyOrderSweep, (w) => {
      step(w, 'email').config.body = 'Last order: {{ order.name }}';
    }),
    'foreach_body',
    'FOREACH_ITEM_OUTSIDE_LOOP',
  ],
  [
    'a customer trigger feeding add order tags',
    mutate(newsletterSignup, (w) => {
      step(w, 'list').task_id = 'shopify::admin::add_order_tags';
      step(w, 'list').config = { tags: ['x'] };
    }),
    'task',
    'DATA_INCOMPATIBLE',
  ],
  [
    'an unknown field path',
    mutate(vipOrders, (w) => {
      condition(w, 'big').terms[0]!.field = 'order.loyaltyPoints';
    }),
    'condition',
    'UNKNOWN_FIELD_PATH',
  ],
  [
    'nil? on a string',
    mutate(riskyOrderSweep, (w) => {
      condition(w, 'risky').terms[1]!.operator = 'nil?';
    }),
    'condition',
    'OPERATOR_TYPE_MISMATCH',
  ],
  [
    'in? against a single value',
    mutate(riskyOrderSweep, (w) => {
      condition(w, 'risky').terms[0]!.value = 'HIGH';
    }),
    'condition',
    'CONDITION_VALUE_TYPE',
  ],
  [
    'a number compared with text',
    mutate(vipOrders, (w) => {
      condition(w, 'big').terms[0]!.value = 'two hundred';
    }),
    'condition',
    'CONDITION_VALUE_TYPE',
  ],
  [
    'a condition with two fields',
    mutate(vipOrders, (w) => {
      step(w, 'big').config.note = 'x';
    }),
    'condition',
    'CONDITION_FIELD_COUNT',
  ],
  [
    'a for-each linked from a true port',
    mutate(riskyOrderSweep, (w) => {
      (w.links[2] as { port: string }).port = 'true';
    }),
    'foreach_body',
    'WRONG_PORT',
  ],
  [
    'a required config field missing',
    mutate(vipOrders, (w) => {
      step(w, 'tag-customer').config = {};
    }),
    'config_field',
    'MISSING_CONFIG_FIELD',
  ],
  [
    'an invalid URL',
    mutate(newsletterSignup, (w) => {
      step(w, 'notify').config.url = 'hooks.example.com';
    }),
    'config_field',
    'INVALID_CONFIG_VALUE',
  ],
  [
    'an unknown config field',
    mutate(vipOrders, (w) => {
      step(w, 'tag-order').config.colour = 'red';
    }),
    'config_field',
    'UNKNOWN_CONFIG_FIELD',
  ],
  [
    'an unknown template path in a config value',
    mutate(newsletterSignup, (w) => {
      step(w, 'notify').config.body = '{{ customer.shoeSize }}';
    }),
    'config_field',
    'UNKNOWN_FIELD_PATH',
  ],
  [
    'an unknown task',
    mutate(vipOrders, (w) => {
      step(w, 'tag-order').task_id = 'shopify::admin::teleport_order';
    }),
    'task',
    'UNKNOWN_TASK',
  ],
  [
    'an action typed as a trigger',
    mutate(vipOrders, (w) => {
      step(w, 'tag-order').task_type = 'TRIGGER';
    }),
    'task',
    'TASK_TYPE_MISMATCH',
  ],
];

describe('Flow workflow validator', () => {
  it('has the catalog breadth the corpus needs', () => {
    expect(TRIGGERS.length).toBeGreaterThanOrEqual(30);
    expect(ACTIONS.length).toBeGreaterThanOrEqual(20);
  });

  it.each(Object.entries(VALID))('accepts the valid workflow %s', (_, workflow) => {
    expect(validateFlow(workflow)).toEqual([]);
  });

  it.each(MUTATIONS)('catches %s in the right bucket', (_, workflow, bucket, code) => {
    const problems = validateFlow(workflow);
    expect(problems, JSON.stringify(problems)).toEqual([expect.objectContaining({ bucket, code })]);
    expect(problems[0]?.message.length).toBeGreaterThan(10);
  });

  it('reports every problem of a workflow at once', () => {
    const broken = mutate(vipOrders, (w) => {
      condition(w, 'big').connectives = ['||'];
      condition(w, 'big').terms[0]!.field = 'order.nope';
      step(w, 'tag-order').config = {};
    });
    expect(
      validateFlow(broken)
        .map((p) => p.code)
        .sort(),
    ).toEqual(['MISSING_CONFIG_FIELD', 'UNKNOWN_FIELD_PATH']);
    expect(validateFlow({ name: 'x', steps: 'nope' })[0]).toMatchObject({ bucket: 'task', code: 'MALFORMED_WORKFLOW' });
  });
});
