import { ACTIONS, PORTS, RESOURCE_FIELDS, TASKS, type ConfigField, type FieldSpec, type FieldType, type Resource, type TaskSpec } from './flow-catalog.js';
import { Condition, FlowWorkflow, STRING_OPERATORS, type CheckOperator, type CompareOperator, type FlowStep, type Literal } from './flow-workflow.js';

/** The four buckets the agent's training and evaluation report errors in. */
export type ErrorBucket = 'config_field' | 'condition' | 'foreach_body' | 'task';

export interface FlowProblem {
  bucket: ErrorBucket;
  code: string;
  stepId?: string;
  message: string;
}

/** What a name in scope stands for: a resource record, one element of a scalar list, or a list of records (a look-up's result). */
type Binding = { resource: Resource } | { scalar: FieldType } | { records: Resource };

interface Scope {
  bindings: Map<string, Binding>;
}

type Resolved = { ok: true; spec: FieldSpec | { resource: Resource } } | { ok: false; why: 'unknown' | 'outside-loop'; detail: string };

const NUMERIC: ReadonlySet<FieldType> = new Set(['Integer', 'Float', 'Money', 'Decimal']);
const ORDERED: ReadonlySet<FieldType> = new Set([...NUMERIC, 'Date']);
const STRING_ONLY: ReadonlySet<CompareOperator> = new Set(STRING_OPERATORS);
const TEMPLATE = /\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g;
const HTTP_METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function describe(spec: FieldSpec | { resource: Resource }): string {
  if (typeof spec === 'string') return spec;
  if ('list' in spec) return `List<${spec.list}>`;
  if ('listOf' in spec) return `List<${spec.listOf}>`;
  return spec.resource;
}

/** `order.totalPrice` → Money; `lineItem.quantity` inside a quantifier over order.lineItems → Integer. */
function resolvePath(path: string, scope: Scope, loopItems: ReadonlySet<string>): Resolved {
  const [root, ...rest] = path.split('.');
  const binding = root === undefined ? undefined : scope.bindings.get(root);
  if (binding === undefined) {
    if (root !== undefined && loopItems.has(root))
      return { ok: false, why: 'outside-loop', detail: `${root} is a for-each item, available only inside its loop body` };
    return { ok: false, why: 'unknown', detail: `unknown field path ${path}: nothing named ${root ?? ''} is available here` };
  }
  if ('records' in binding)
    return rest.length === 0
      ? { ok: true, spec: { listOf: binding.records } }
      : { ok: false, why: 'unknown', detail: `${root} is a list of ${binding.records} records: loop over it with for each` };
  if ('scalar' in binding)
    return rest.length === 0
      ? { ok: true, spec: binding.scalar }
      : { ok: false, why: 'unknown', detail: `${root} is a ${binding.scalar}; it has no field ${rest.join('.')}` };
  let current: FieldSpec | { resource: Resource } = { resource: binding.resource };
  for (const segment of rest) {
    if (typeof current === 'string' || !('resource' in current))
      return { ok: false, why: 'unknown', detail: `unknown field path ${path}: ${describe(current)} has no field ${segment}` };
    const next: FieldSpec | undefined = RESOURCE_FIELDS[current.resource][segment];
    if (next === undefined) return { ok: false, why: 'unknown', detail: `unknown field path ${path}: ${current.resource} has no field ${segment}` };
    current = next;
  }
  return { ok: true, spec: current };
}

function literalFits(value: Literal, type: FieldType): boolean {
  if (value === null) return true;
  if (NUMERIC.has(type)) return typeof value === 'number';
  if (type === 'Boolean') return typeof value === 'boolean';
  if (type === 'Date') return typeof value === 'string' && !Number.isNaN(Date.parse(value));
  return typeof value === 'string';
}

class FlowValidator {
  readonly problems: FlowProblem[] = [];
  private readonly loopItems = new Set<string>();

  constructor(private readonly workflow: FlowWorkflow) {
    for (const step of workflow.steps) {
      const name = step.task_type === 'FOREACH' ? step.config.itemName : undefined;
      if (typeof name === 'string') this.loopItems.add(name);
    }
  }

  report(bucket: ErrorBucket, code: string, message: string, stepId?: string): void {
    this.problems.push({ bucket, code, message, ...(stepId === undefined ? {} : { stepId }) });
  }

  private field(path: string, scope: Scope, stepId: string, bucket: ErrorBucket): Resolved {
    const resolved = resolvePath(path, scope, this.loopItems);
    if (!resolved.ok)
      this.report(
        resolved.why === 'outside-loop' ? 'foreach_body' : bucket,
        resolved.why === 'outside-loop' ? 'FOREACH_ITEM_OUTSIDE_LOOP' : 'UNKNOWN_FIELD_PATH',
        resolved.detail,
        stepId,
      );
    return resolved;
  }

  condition(condition: Condition, scope: Scope, stepId: string): void {
    switch (condition.kind) {
      case 'group': {
        if (condition.connectives.length !== condition.terms.length - 1) {
          this.report(
            'condition',
            'CONDITION_MALFORMED',
            `a group of ${condition.terms.length} terms needs ${condition.terms.length - 1} connectives, has ${condition.connectives.length}`,
            stepId,
          );
        }
        if (new Set(condition.connectives).size > 1)
          this.report('condition', 'MIXED_CONNECTIVES', '&& and || are mixed at one level; nest one of them in its own group', stepId);
        for (const term of condition.terms) this.condition(term, scope, stepId);
        return;
      }
      case 'quantifier': {
        const list = this.field(condition.field, scope, stepId, 'condition');
        if (!list.ok) return;
        const spec = list.spec;
        if (typeof spec === 'string' || !('list' in spec || 'listOf' in spec)) {
          this.report('condition', 'QUANTIFIER_NOT_LIST', `${condition.quantifier} needs a list; ${condition.field} is ${describe(spec)}`, stepId);
          return;
        }
        const bindings = new Map(scope.bindings);
        bindings.set(condition.as, 'list' in spec ? { scalar: spec.list } : { resource: spec.listOf });
        this.condition(condition.condition, { bindings }, stepId);
        return;
      }
      case 'check':
      case 'compare': {
        const resolved = this.field(condition.field, scope, stepId, 'condition');
        if (!resolved.ok) return;
        const spec = resolved.spec;
        if (typeof spec !== 'string') {
          this.report('condition', 'OPERATOR_TYPE_MISMATCH', `${condition.field} is ${describe(spec)}: compare its elements inside any/all/none`, stepId);
          return;
        }
        if (condition.kind === 'check') this.check(condition.operator, condition.field, spec, stepId);
        else this.compare(condition.operator, condition.field, spec, condition.value, stepId);
      }
    }
  }

  private check(operator: CheckOperator, field: string, type: FieldType, stepId: string): void {
    const forStrings = operator === 'empty_or_nil?' || operator === 'not_empty_or_nil?';
    if (forStrings !== (type === 'String')) {
      this.report(
        'condition',
        'OPERATOR_TYPE_MISMATCH',
        `${operator} is for ${forStrings ? 'strings' : 'non-string fields'}; ${field} is ${type}${forStrings ? ' (use nil?)' : ' (use empty_or_nil?)'}`,
        stepId,
      );
    }
  }

  private compare(operator: CompareOperator, field: string, type: FieldType, value: Literal | Literal[], stepId: string): void {
    const bad = (why: string): void => this.report('condition', 'OPERATOR_TYPE_MISMATCH', `${operator} cannot compare ${field} (${type}): ${why}`, stepId);
    if (STRING_ONLY.has(operator) && type !== 'String') return bad('string operators apply to strings only');
    if (['>', '>=', '<', '<='].includes(operator) && !ORDERED.has(type)) return bad('ordering applies to numbers, money and dates');
    const isList = operator === 'in?' || operator === 'not_in?';
    if (isList !== Array.isArray(value)) {
      this.report(
        'condition',
        'CONDITION_VALUE_TYPE',
        isList ? `${operator} needs a literal list of values` : `${operator} needs a single value, not a list`,
        stepId,
      );
      return;
    }
    const values = Array.isArray(value) ? value : [value];
    const wrong = values.filter((v) => !literalFits(v, type));
    if (wrong.length > 0) this.report('condition', 'CONDITION_VALUE_TYPE', `${field} is ${type}; ${JSON.stringify(wrong[0])} is not a ${type} value`, stepId);
  }

  config(step: FlowStep, spec: TaskSpec, scope: Scope): void {
    for (const name of Object.keys(step.config)) {
      if (spec.type === 'CONDITION' && name === 'condition') continue;
      if (spec.config[name] === undefined) this.report('config_field', 'UNKNOWN_CONFIG_FIELD', `${spec.title} has no config field ${name}`, step.step_id);
    }
    for (const [name, field] of Object.entries(spec.config)) {
      const value = step.config[name];
      if (value === undefined) {
        if (field.required) this.report('config_field', 'MISSING_CONFIG_FIELD', `${spec.title} needs config field ${name} (${field.kind})`, step.step_id);
        continue;
      }
      this.configValue(step.step_id, spec, name, field, value, scope);
    }
  }

  private configValue(stepId: string, spec: TaskSpec, name: string, field: ConfigField, value: unknown, scope: Scope): void {
    const bad = (why: string): void => this.report('config_field', 'INVALID_CONFIG_VALUE', `${spec.title} config ${name}: ${why}`, stepId);
    const strings = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    // Liquid-style references inside text must name data available at this step.
    for (const text of strings) for (const match of text.matchAll(TEMPLATE)) this.field(match[1] as string, scope, stepId, 'config_field');
    switch (field.kind) {
      case 'string':
        if (typeof value !== 'string') bad('expected text');
        return;
      case 'nonEmptyString':
        if (typeof value !== 'string' || value.trim() === '') bad('expected non-empty text');
        return;
      case 'stringList':
        if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v.trim() !== ''))
          bad('expected a non-empty list of non-empty strings');
        return;
      case 'email':
        if (typeof value !== 'string' || !/^[^\s@]+@[^\s@]+\.[^\s@]+$|\{\{/.test(value)) bad(`${JSON.stringify(value)} is not an email address`);
        return;
      case 'url':
        if (typeof value !== 'string' || !/^https?:\/\/\S+$/.test(value)) bad(`${JSON.stringify(value)} is not an http(s) URL`);
        return;
      case 'integer':
        if (!Number.isInteger(value)) bad('expected a whole number');
        return;
      case 'duration':
        if (typeof value !== 'string' || !/^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/.test(value))
          bad(`${JSON.stringify(value)} is not an ISO-8601 duration such as PT1H`);
        return;
      case 'httpMethod':
        if (typeof value !== 'string' || !HTTP_METHODS.has(value)) bad(`expected one of ${[...HTTP_METHODS].join(', ')}`);
        return;
      case 'json':
        if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('expected a JSON object');
        return;
      case 'fieldPath': {
        if (typeof value !== 'string') return bad('expected a field path');
        const resolved = this.field(value, scope, stepId, 'config_field');
        if (resolved.ok && (typeof resolved.spec === 'string' || !('list' in resolved.spec || 'listOf' in resolved.spec)))
          bad(`${value} is ${describe(resolved.spec)}, not a list`);
      }
    }
  }
}

/** The scope a for-each's loop body sees: its item bound to the list's element. */
function loopScope(step: FlowStep, scope: Scope): Scope {
  const items = step.config.items;
  const name = step.config.itemName;
  if (typeof items !== 'string' || typeof name !== 'string') return scope;
  const resolved = resolvePath(items, scope, new Set());
  if (!resolved.ok || typeof resolved.spec === 'string') return scope;
  const bindings = new Map(scope.bindings);
  if ('listOf' in resolved.spec) bindings.set(name, { resource: resolved.spec.listOf });
  else if ('list' in resolved.spec) bindings.set(name, { scalar: resolved.spec.list });
  return { bindings };
}

/**
 * Validates a workflow and returns every problem, each in its bucket (config field, condition, for-each
 * body, task). An empty list means the workflow is valid.
 *
 * @example
 * validateFlow({ name: 'VIP', steps: [...], links: [...] })
 * // → [{ bucket: 'condition', code: 'OPERATOR_TYPE_MISMATCH', stepId: 'big-order', message: '> cannot compare ...' }]
 */
export function validateFlow(input: unknown): FlowProblem[] {
  const parsed = FlowWorkflow.safeParse(input);
  if (!parsed.success) {
    return parsed.error.issues.map((issue) => ({
      bucket: issue.path.includes('config') ? 'config_field' : 'task',
      code: 'MALFORMED_WORKFLOW',
      message: `${issue.path.join('.') || 'workflow'}: ${issue.message}`,
    }));
  }
  const workflow = parsed.data;
  const v = new FlowValidator(workflow);
  const steps = new Map<string, FlowStep>();
  for (const step of workflow.steps) {
    if (steps.has(step.step_id)) v.report('task', 'DUPLICATE_STEP_ID', `step id ${step.step_id} is used twice`, step.step_id);
    steps.set(step.step_id, step);
  }
  const specs = new Map<string, TaskSpec>();
  for (const step of workflow.steps) {
    const spec = TASKS.get(step.task_id);
    if (spec === undefined) v.report('task', 'UNKNOWN_TASK', `unknown task ${step.task_id}`, step.step_id);
    else if (spec.type !== step.task_type) v.report('task', 'TASK_TYPE_MISMATCH', `${step.task_id} is a ${spec.type}, not a ${step.task_type}`, step.step_id);
    else specs.set(step.step_id, spec);
  }
  if (!workflow.steps.some((s) => s.task_type === 'TRIGGER')) v.report('task', 'NO_TRIGGER', 'the workflow has no trigger: add one (e.g. order created)');
  const actionIds = new Set(ACTIONS.map((a) => a.taskId));
  if (!workflow.steps.some((s) => actionIds.has(s.task_id))) v.report('task', 'NO_ACTION', 'the workflow has no action: add one (e.g. add order tags)');

  const outgoing = new Map<string, Array<{ port: string; to: string }>>();
  const wrongTargets: string[] = [];
  for (const link of workflow.links) {
    const from = steps.get(link.from);
    if (from === undefined || !steps.has(link.to)) {
      v.report('task', 'UNKNOWN_LINK_STEP', `link ${link.from}.${link.port} → ${link.to} names a step that does not exist`);
      continue;
    }
    if (!PORTS[from.task_type].includes(link.port)) {
      const bucket = from.task_type === 'CONDITION' ? 'condition' : from.task_type === 'FOREACH' ? 'foreach_body' : 'task';
      v.report(
        bucket,
        'WRONG_PORT',
        `${from.task_type.toLowerCase()} ${from.step_id} has no port ${link.port}; use ${PORTS[from.task_type].join(' or ')}`,
        from.step_id,
      );
      // What lies behind a wrong port is reached but not checked: its scope is unknowable, and one wrong port is one problem.
      wrongTargets.push(link.to);
      continue;
    }
    outgoing.set(link.from, [...(outgoing.get(link.from) ?? []), { port: link.port, to: link.to }]);
  }

  // Walk from each trigger with the data in scope along each path; check every step in each scope it is reached with.
  const seen = new Set<string>();
  const visit = (id: string, scope: Scope): void => {
    const key = `${id}\0${[...scope.bindings.keys()].sort().join(',')}`;
    if (seen.has(key)) return;
    seen.add(key);
    const step = steps.get(id) as FlowStep;
    const spec = specs.get(id);
    let next = scope;
    if (spec !== undefined) {
      if (step.task_type === 'CONDITION') {
        const fields = Object.keys(step.config);
        if (fields.length !== 1 || fields[0] !== 'condition') {
          v.report(
            'condition',
            'CONDITION_FIELD_COUNT',
            `a condition has exactly one condition field; ${step.step_id} has ${fields.length === 0 ? 'none' : fields.join(', ')}`,
            id,
          );
        }
        const parsed = Condition.safeParse(step.config.condition);
        if (step.config.condition !== undefined && !parsed.success)
          v.report('condition', 'CONDITION_MALFORMED', `condition of ${id}: ${parsed.error.issues[0]?.message ?? 'invalid'}`, id);
        if (parsed.success) v.condition(parsed.data, scope, id);
      } else {
        v.config(step, spec, scope);
      }
      for (const resource of spec.requires ?? []) {
        const available = [...scope.bindings.values()].some((b) => 'resource' in b && b.resource === resource);
        if (!available) v.report('task', 'DATA_INCOMPATIBLE', `${spec.title} needs ${resource} data, which nothing before ${id} provides`, id);
      }
      if (step.task_type !== 'TRIGGER' && spec.provides !== undefined) {
        const bindings = new Map(scope.bindings);
        bindings.set('getOrderData', { records: 'order' });
        next = { bindings };
      }
    }
    for (const link of outgoing.get(id) ?? []) visit(link.to, step.task_type === 'FOREACH' && link.port === 'loop_body' ? loopScope(step, scope) : next);
  };
  const reached = new Set<string>();
  for (const step of workflow.steps) {
    if (step.task_type !== 'TRIGGER') continue;
    const spec = specs.get(step.step_id);
    const bindings = new Map<string, Binding>((spec?.provides ?? []).map((r) => [r, { resource: r }]));
    visit(step.step_id, { bindings });
  }
  for (const key of seen) reached.add(key.split('\0')[0] as string);
  const markReached = (id: string): void => {
    if (reached.has(id)) return;
    reached.add(id);
    for (const link of outgoing.get(id) ?? []) markReached(link.to);
  };
  wrongTargets.forEach(markReached);
  for (const step of workflow.steps) {
    if (!reached.has(step.step_id) && workflow.steps.some((s) => s.task_type === 'TRIGGER'))
      v.report('task', 'UNREACHABLE_STEP', `step ${step.step_id} is not reachable from a trigger`, step.step_id);
  }
  return v.problems;
}
