import type { Store } from '../../cache/store.js';
import { FlywheelError } from '../../engine/errors.js';
import { findRunWorkflow, withTemporal } from '../../workers/temporal-client.js';
import { SEARCH_ATTRIBUTE_PIPELINE, SEARCH_ATTRIBUTE_RUN_ID } from '../../workflows/types.js';

function notFound(runId: string): FlywheelError {
  return new FlywheelError('RUN_NOT_FOUND', `no Temporal run ${runId}`, { fix: 'list runs with `flywheel runs --engine temporal`' });
}

/** `flywheel cancel <runId>`: cancels the run's workflow; its running steps are cancelled on their workers. */
export async function cancelCommand(args: { runId: string }): Promise<number> {
  return withTemporal(async (connection) => {
    const handle = await findRunWorkflow(connection, args.runId);
    if (handle === undefined) throw notFound(args.runId);
    await handle.cancel();
    process.stdout.write(`cancellation requested for run ${args.runId} (workflow ${handle.workflowId})\n`);
    return 0;
  });
}

/** `flywheel runs --engine temporal [--pipeline name]`: runs as Temporal lists them, by search attribute. */
export async function temporalRunsCommand(args: { pipeline: string | undefined; limit: number; json: boolean }, store: Store): Promise<number> {
  return withTemporal(async ({ client }) => {
    const query =
      args.pipeline === undefined ? `${SEARCH_ATTRIBUTE_RUN_ID} IS NOT NULL` : `${SEARCH_ATTRIBUTE_PIPELINE} = '${args.pipeline.replace(/'/g, '')}'`;
    const rows: Array<{ runId: string; pipeline: string; status: string; startedAt: string; workflowId: string }> = [];
    for await (const w of client.workflow.list({ query, pageSize: args.limit })) {
      const attributes = w.typedSearchAttributes;
      const runId = attributes.getAll().find((p) => p.key.name === SEARCH_ATTRIBUTE_RUN_ID)?.value;
      const pipeline = attributes.getAll().find((p) => p.key.name === SEARCH_ATTRIBUTE_PIPELINE)?.value;
      rows.push({
        runId: typeof runId === 'string' ? runId : '?',
        pipeline: typeof pipeline === 'string' ? pipeline : '?',
        status: w.status.name.toLowerCase(),
        startedAt: w.startTime.toISOString(),
        workflowId: w.workflowId,
      });
      if (rows.length >= args.limit) break;
    }
    if (args.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (rows.length === 0) process.stdout.write(`no Temporal runs${args.pipeline ? ` of ${args.pipeline}` : ''} (records: ${store.description})\n`);
    else for (const r of rows) process.stdout.write(`${r.runId}  ${r.pipeline.padEnd(16)} ${r.status.padEnd(11)} ${r.startedAt}  ${r.workflowId}\n`);
    return 0;
  });
}
