import { z } from 'zod';
import { FlowWorkflow } from './flow-workflow.js';

/** One production workflow as the platform exports it (one JSON line). */
export const ProductionRecord = z.object({
  workflow_id: z.string().min(1),
  merchant_id: z.string().min(1),
  version: z.number().int().min(1),
  /** `edit`: a later version of `edit_of`, changed by the merchant. */
  kind: z.enum(['create', 'edit']),
  edit_of: z.string().optional(),
  created_at: z.string(),
  /** Null when it never ran. */
  last_run_at: z.string().nullable(),
  workflow: FlowWorkflow,
});
export type ProductionRecord = z.infer<typeof ProductionRecord>;

/** What collect keeps: a production record, with the workflow an edit changed. */
export const CollectedWorkflow = ProductionRecord.extend({ base: FlowWorkflow.optional() });
export type CollectedWorkflow = z.infer<typeof CollectedWorkflow>;
