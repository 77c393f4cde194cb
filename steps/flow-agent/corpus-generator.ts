import { ACTIONS, RESOURCE_FIELDS, TRIGGERS, type ConfigField, type FieldSpec, type Resource, type TaskSpec } from './flow-catalog.js';
import type { Condition, FlowStep, FlowWorkflow } from './flow-workflow.js';
import type { ProductionRecord } from './production-record.js';
import { SeededRandom } from '../stats/seeded-random.js';
import { validateFlow } from './validate-flow.js';

// Small vocabularies: common automations recur across merchants, as they do in production.
const TAGS = [
  'VIP',
  'wholesale',
  'high-risk',
  'repeat-buyer',
  'first-order',
  'review-needed',
  'gift',
  'b2b',
  'newsletter',
  'preorder',
  'clearance',
  'priority',
];
const THRESHOLDS = [50, 100, 200, 500, 1000];
const COUNTS = [1, 2, 3, 5, 10];
const ENUMS: Record<string, string[]> = {
  riskLevel: ['HIGH', 'MEDIUM', 'LOW'],
  financialStatus: ['PAID', 'PENDING', 'REFUNDED'],
  fulfillmentStatus: ['FULFILLED', 'UNFULFILLED', 'PARTIAL'],
  currency: ['USD', 'EUR', 'CAD'],
  state: ['ENABLED', 'DISABLED', 'INVITED'],
  status: ['ACTIVE', 'DRAFT', 'ARCHIVED', 'OPEN'],
  reason: ['FRAUDULENT', 'DAMAGED', 'WRONG_ITEM'],
  errorCode: ['CARD_DECLINED', 'EXPIRED_CARD', 'INSUFFICIENT_FUNDS'],
};
const STRING_VALUES: Record<string, string[]> = {
  email: ['@acme.com', '@example.org', 'orders@'],
  vendor: ['Acme', 'Northwind', 'Globex'],
  productType: ['Shoes', 'Gift Card', 'Subscription'],
  sku: ['PRE-', 'GIFT-', 'B2B-'],
  title: ['Sale', 'Limited', 'Bundle'],
  trackingCompany: ['UPS', 'DHL', 'FedEx'],
  locationName: ['Warehouse', 'Store'],
  code: ['WELCOME', 'VIP', 'SPRING'],
  name: ['VIP', 'Wholesale'],
};
const TEAM = ['ops@store.example', 'support@store.example', 'owner@store.example'];
const AS_OF = Date.parse('2026-11-23T00:00:00Z');
const DAY = 86_400_000;

function scalarFields(resource: Resource): Array<[string, FieldSpec]> {
  return Object.entries(RESOURCE_FIELDS[resource]).filter(([, spec]) => typeof spec === 'string');
}

/** A comparison that makes sense for the field's type, with a value from the shared vocabularies. */
function comparison(rng: SeededRandom, path: string, name: string, type: string): Condition {
  switch (type) {
    case 'Money':
    case 'Decimal':
    case 'Float':
      return { kind: 'compare', field: path, operator: rng.pick(['>', '>=', '<']), value: rng.pick(THRESHOLDS) };
    case 'Integer':
      return { kind: 'compare', field: path, operator: rng.pick(['>', '>=', '<', '==']), value: rng.pick(COUNTS) };
    case 'Boolean':
      return { kind: 'compare', field: path, operator: '==', value: rng.chance(0.7) };
    case 'Date':
      return { kind: 'check', field: path, operator: 'not_nil?' };
    case 'Enum': {
      const values = ENUMS[name] ?? ['ACTIVE', 'OPEN'];
      return rng.chance(0.5)
        ? { kind: 'compare', field: path, operator: 'in?', value: values.slice(0, 2) }
        : { kind: 'compare', field: path, operator: rng.pick(['==', '!=']), value: rng.pick(values) };
    }
    default: {
      if (rng.chance(0.2)) return { kind: 'check', field: path, operator: rng.pick(['empty_or_nil?', 'not_empty_or_nil?']) };
      const value = rng.pick(STRING_VALUES[name] ?? ['test']);
      return {
        kind: 'compare',
        field: path,
        operator: value.startsWith('@') ? 'ends_with?' : value.endsWith('-') || value.endsWith('@') ? 'starts_with?' : rng.pick(['==', 'includes?']),
        value,
      };
    }
  }
}

function leafCondition(rng: SeededRandom, resources: Resource[]): Condition {
  const resource = rng.pick(resources.filter((r) => r !== 'shop' && r !== 'schedule'));
  const lists = Object.entries(RESOURCE_FIELDS[resource]).filter(([, spec]) => typeof spec !== 'string');
  if (lists.length > 0 && rng.chance(0.25)) {
    const [name, spec] = rng.pick(lists);
    if (typeof spec !== 'string' && 'list' in spec) {
      return {
        kind: 'quantifier',
        quantifier: rng.pick(['any', 'none']),
        field: `${resource}.${name}`,
        as: 'tag',
        condition: { kind: 'compare', field: 'tag', operator: '==', value: rng.pick(TAGS) },
      };
    }
    if (typeof spec !== 'string' && 'listOf' in spec) {
      const [field, type] = rng.pick(scalarFields(spec.listOf));
      return {
        kind: 'quantifier',
        quantifier: rng.pick(['any', 'all']),
        field: `${resource}.${name}`,
        as: 'item',
        condition: comparison(rng, `item.${field}`, field, type as string),
      };
    }
  }
  const [name, type] = rng.pick(scalarFields(resource));
  return comparison(rng, `${resource}.${name}`, name, type as string);
}

function condition(rng: SeededRandom, resources: Resource[]): Condition {
  if (!rng.chance(0.35)) return leafCondition(rng, resources);
  const terms = [leafCondition(rng, resources), leafCondition(rng, resources)];
  return { kind: 'group', terms, connectives: [rng.chance(0.7) ? '&&' : '||'] };
}

function configValue(rng: SeededRandom, name: string, field: ConfigField, resources: readonly Resource[]): unknown {
  const mention = resources.includes('order') ? ' {{ order.name }}' : resources.includes('customer') ? ' {{ customer.email }}' : '';
  switch (field.kind) {
    case 'stringList':
      return name === 'collectionIds' ? [`gid://shopify/Collection/${rng.int(100, 999)}`] : [rng.pick(TAGS)];
    case 'email':
      return rng.pick(TEAM);
    case 'url':
      return rng.pick(['https://hooks.slack.com/services/T000/B000', 'https://api.erp.example/orders', 'https://hooks.zapier.com/hooks/catch/1/abc']);
    case 'httpMethod':
      return 'POST';
    case 'json':
      return name === 'headers' ? { 'Content-Type': 'application/json' } : { id: '{{ id }}' };
    case 'integer':
      return rng.pick([10, 50, 100]);
    case 'duration':
      return rng.pick(['PT1H', 'P1D', 'PT30M']);
    case 'fieldPath':
      return 'order.lineItems';
    default:
      return (
        (
          {
            reason: rng.pick(['FRAUD', 'CUSTOMER', 'INVENTORY']),
            channel: 'online_store',
            subject: `Flow alert${mention}`,
            body: `Please review${mention}.`,
            message: `New event${mention}`,
            note: rng.pick(['Checked by Flow', 'Needs follow-up']),
            namespace: 'custom',
            key: 'flow_status',
            value: 'reviewed',
            listId: rng.pick(['Xy12', 'Ab34']),
            mutation: 'tagsAdd',
            query: 'status:open',
          } as Record<string, string>
        )[name] ?? 'value'
      );
  }
}

function actionStep(rng: SeededRandom, id: string, spec: TaskSpec, resources: readonly Resource[]): FlowStep {
  const config: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(spec.config)) if (field.required || rng.chance(0.3)) config[name] = configValue(rng, name, field, resources);
  return { step_id: id, task_id: spec.taskId, task_type: 'ACTION', config };
}

const compatible = (resources: readonly Resource[]): TaskSpec[] => ACTIONS.filter((a) => (a.requires ?? []).every((r) => resources.includes(r)));

/** One plausible production workflow: trigger → (condition →) actions, or a scheduled sweep over orders. */
export function generateWorkflow(rng: SeededRandom, label: string): FlowWorkflow {
  const steps: FlowStep[] = [];
  const links: FlowWorkflow['links'] = [];
  if (rng.chance(0.08)) {
    // A scheduled sweep: look orders up, loop, act on each, then report.
    steps.push({ step_id: 'schedule', task_id: 'shopify::flow::scheduled_time', task_type: 'TRIGGER', config: {} });
    steps.push({
      step_id: 'lookup',
      task_id: 'shopify::flow::get_order_data',
      task_type: 'ACTION',
      config: { query: rng.pick(['financial_status:pending', 'fulfillment_status:unfulfilled', 'tag:review-needed']), maxResults: 100 },
    });
    steps.push({ step_id: 'each', task_id: 'shopify::flow::for_each', task_type: 'FOREACH', config: { items: 'getOrderData', itemName: 'order' } });
    steps.push({ step_id: 'check', task_id: 'shopify::flow::condition', task_type: 'CONDITION', config: { condition: leafCondition(rng, ['order']) } });
    const act = rng.pick(compatible(['order']).filter((a) => a.requires?.includes('order')));
    steps.push(actionStep(rng, 'act', act, ['order']));
    steps.push(actionStep(rng, 'report', rng.pick(ACTIONS.filter((a) => a.category === 'email' && (a.requires ?? []).length === 0)), []));
    links.push(
      { from: 'schedule', port: 'output', to: 'lookup' },
      { from: 'lookup', port: 'output', to: 'each' },
      { from: 'each', port: 'loop_body', to: 'check' },
      { from: 'check', port: 'true', to: 'act' },
      { from: 'each', port: 'after', to: 'report' },
    );
    return { name: `${label}: sweep orders (${act.title.toLowerCase()})`, steps, links };
  }
  const trigger = rng.pick(TRIGGERS.filter((t) => t.taskId !== 'shopify::flow::scheduled_time'));
  const resources = trigger.provides ?? [];
  steps.push({ step_id: 'trigger', task_id: trigger.taskId, task_type: 'TRIGGER', config: {} });
  const choices = compatible(resources);
  const specific = choices.filter((a) => (a.requires ?? []).length > 0);
  const firstAction = rng.pick(specific.length > 0 && rng.chance(0.75) ? specific : choices);
  let from = 'trigger';
  let port = 'output';
  if (resources.some((r) => r !== 'shop') && rng.chance(0.7)) {
    steps.push({ step_id: 'condition', task_id: 'shopify::flow::condition', task_type: 'CONDITION', config: { condition: condition(rng, resources) } });
    links.push({ from, port, to: 'condition' });
    from = 'condition';
    port = 'true';
    if (rng.chance(0.2)) {
      steps.push(actionStep(rng, 'otherwise', rng.pick(choices), resources));
      links.push({ from: 'condition', port: 'false', to: 'otherwise' });
    }
  }
  const actions = [firstAction, ...(rng.chance(0.35) ? [rng.pick(choices)] : [])];
  actions.forEach((spec, i) => {
    const id = `action-${i + 1}`;
    steps.push(actionStep(rng, id, spec, resources));
    links.push({ from, port, to: id });
    from = id;
    port = 'output';
  });
  return { name: `${label}: ${trigger.title.toLowerCase()} → ${actions.map((a) => a.title.toLowerCase()).join(', ')}`, steps, links };
}

/** A merchant's change to an existing workflow: one more action, or a different condition. */
export function editWorkflow(rng: SeededRandom, base: FlowWorkflow): FlowWorkflow {
  const edited = structuredClone(base);
  const trigger = edited.steps.find((s) => s.task_type === 'TRIGGER');
  const resources = TRIGGERS.find((t) => t.taskId === trigger?.task_id)?.provides ?? [];
  const cond = edited.steps.find((s) => s.task_type === 'CONDITION');
  if (cond !== undefined && trigger?.task_id !== 'shopify::flow::scheduled_time' && rng.chance(0.5)) {
    cond.config = { condition: condition(rng, resources) };
  } else {
    const last = [...edited.steps].reverse().find((s) => s.task_type === 'ACTION' && !edited.links.some((l) => l.from === s.step_id));
    const spec = rng.pick(compatible(trigger?.task_id === 'shopify::flow::scheduled_time' ? [] : resources));
    edited.steps.push(actionStep(rng, 'added-action', spec, resources));
    if (last !== undefined) edited.links.push({ from: last.step_id, port: 'output', to: 'added-action' });
  }
  edited.name = `${base.name} (edited)`;
  return edited;
}

/**
 * A production export: `merchants` merchants with one to six workflows each, some edited later, last
 * runs spread over the 30 days before 2026-11-23 (some never ran). Every workflow validates.
 */
export function generateProductionCorpus(seed: number, merchants: number): ProductionRecord[] {
  const rng = new SeededRandom(seed);
  const records: ProductionRecord[] = [];
  for (let m = 0; m < merchants; m++) {
    const merchant = `m-${String(seed % 1000).padStart(3, '0')}-${String(m).padStart(4, '0')}`;
    const count = rng.pick([1, 1, 2, 2, 3, 3, 4, 6]);
    for (let w = 0; w < count; w++) {
      const workflow = generateWorkflow(rng, merchant);
      if (validateFlow(workflow).length > 0) continue; // never export what the platform would reject
      const id = `wf-${merchant}-${w}`;
      const created = AS_OF - rng.int(30, 400) * DAY;
      const lastRun = rng.chance(0.15) ? null : AS_OF - rng.int(0, 29) * DAY - rng.int(0, 86_399) * 1000;
      records.push({
        workflow_id: id,
        merchant_id: merchant,
        version: 1,
        kind: 'create',
        created_at: new Date(created).toISOString(),
        last_run_at: lastRun === null ? null : new Date(lastRun).toISOString(),
        workflow,
      });
      if (rng.chance(0.12)) {
        const edited = editWorkflow(rng, workflow);
        if (validateFlow(edited).length === 0) {
          records.push({
            workflow_id: `${id}-v2`,
            merchant_id: merchant,
            version: 2,
            kind: 'edit',
            edit_of: id,
            created_at: new Date(created + rng.int(1, 20) * DAY).toISOString(),
            last_run_at: new Date(AS_OF - rng.int(0, 6) * DAY).toISOString(),
            workflow: edited,
          });
        }
      }
    }
  }
  return records;
}
