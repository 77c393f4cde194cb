import { z } from 'zod';

// The shape of a Flow-style workflow (../shared/CONTEXT.md). Structure only: whether it makes sense
// (ports, types, scopes, data compatibility) is the validator's job, so that it can report every
// problem in its bucket instead of failing at the first.

export const TaskType = z.enum(['TRIGGER', 'CONDITION', 'ACTION', 'FOREACH', 'WAIT']);
export type TaskType = z.infer<typeof TaskType>;

export const Literal = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Literal = z.infer<typeof Literal>;

/** Operators that apply to strings only (CONTEXT.md): the validator checks the field's type against them. */
export const STRING_OPERATORS = ['starts_with?', 'ends_with?', 'includes?', 'not_starts_with?', 'not_ends_with?', 'not_includes?'] as const;

export const CompareOperator = z.enum(['==', '!=', '>', '>=', '<', '<=', ...STRING_OPERATORS, 'in?', 'not_in?']);
export type CompareOperator = z.infer<typeof CompareOperator>;

export const CheckOperator = z.enum(['empty_or_nil?', 'not_empty_or_nil?', 'nil?', 'not_nil?']);
export type CheckOperator = z.infer<typeof CheckOperator>;

export type Condition =
  | { kind: 'compare'; field: string; operator: CompareOperator; value: Literal | Literal[] }
  | { kind: 'check'; field: string; operator: CheckOperator }
  /** `any`/`all`/`none` of the list at `field`, each element named `as` inside `condition`. */
  | { kind: 'quantifier'; quantifier: 'any' | 'all' | 'none'; field: string; as: string; condition: Condition }
  /** `terms[0] connectives[0] terms[1] …`; one level may not mix `&&` and `||` (nest a group instead). */
  | { kind: 'group'; terms: Condition[]; connectives: Array<'&&' | '||'> };

export const Condition: z.ZodType<Condition> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('compare'), field: z.string().min(1), operator: CompareOperator, value: z.union([Literal, z.array(Literal)]) }),
    z.object({ kind: z.literal('check'), field: z.string().min(1), operator: CheckOperator }),
    z.object({
      kind: z.literal('quantifier'),
      quantifier: z.enum(['any', 'all', 'none']),
      field: z.string().min(1),
      as: z.string().regex(/^[a-z][A-Za-z0-9_]*$/),
      condition: Condition,
    }),
    z.object({ kind: z.literal('group'), terms: z.array(Condition).min(1), connectives: z.array(z.enum(['&&', '||'])) }),
  ]),
);

export const FlowStep = z.object({
  step_id: z.string().min(1),
  task_id: z.string().min(1),
  task_type: TaskType,
  config: z.record(z.string(), z.unknown()).default({}),
});
export type FlowStep = z.infer<typeof FlowStep>;

export const FlowLink = z.object({
  from: z.string().min(1),
  port: z.string().min(1),
  to: z.string().min(1),
});
export type FlowLink = z.infer<typeof FlowLink>;

export const FlowWorkflow = z.object({
  name: z.string().min(1),
  steps: z.array(FlowStep),
  links: z.array(FlowLink),
});
export type FlowWorkflow = z.infer<typeof FlowWorkflow>;
