import { createHash } from 'node:crypto';
import type { FlowWorkflow } from './flow-workflow.js';
import { canonicalJson } from 'flywheel';

/**
 * What a workflow does, independent of its name, step ids and order of listing: the same automation
 * set up by two merchants has one descriptor. Collect keeps one example per descriptor, and the
 * benchmark shares none with the training side.
 */
export function workflowDescriptor(workflow: FlowWorkflow): string {
  const task = new Map(workflow.steps.map((s) => [s.step_id, s.task_id]));
  const shape = {
    steps: workflow.steps.map((s) => canonicalJson([s.task_id, s.task_type, s.config])).sort(),
    links: workflow.links.map((l) => `${task.get(l.from) ?? '?'} ${l.port} ${task.get(l.to) ?? '?'}`).sort(),
  };
  return createHash('sha256').update(canonicalJson(shape)).digest('hex').slice(0, 24);
}
