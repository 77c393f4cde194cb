import { ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleDescription } from '@temporalio/client';
import { readLocations, storeLocation } from '../../cache/open-store.js';
import { parseIsoDuration } from '../../engine/durations.js';
import { FlywheelError } from '../../engine/errors.js';
import { PIPELINE_WORKFLOW, pipelineRunInput, withTemporal, type TemporalConnection } from '../../workers/temporal-client.js';
import { PIPELINE_KEY } from '../../workflows/search-attributes.js';
import { taskQueueName } from '../../engine/core/queues.js';
import { loadConfiguredPipeline, type PipelineArgs, describeChoices } from '../options/pipeline-options.js';
import { UsageError } from '../../cache/errors.js';

export interface ScheduleArgs {
  action: string | undefined;
  id: string | undefined;
  pipeline: string | undefined;
  cron: string | undefined;
  set: string[];
  config: string | undefined;
  profile: string | undefined;
  store: string | undefined;
  overlap: string | undefined;
  catchupWindow: string | undefined;
  note: string | undefined;
  json: boolean;
}

const OVERLAP = Object.keys(ScheduleOverlapPolicy) as Array<keyof typeof ScheduleOverlapPolicy>;

function overlapPolicy(text: string | undefined): ScheduleOverlapPolicy {
  const name = (text ?? 'skip').toUpperCase().replace(/-/g, '_');
  if (!(OVERLAP as string[]).includes(name))
    throw new UsageError(`--overlap ${text ?? ''} is not a policy`, `use one of: ${OVERLAP.map((o) => o.toLowerCase().replace(/_/g, '-')).join(', ')}`);
  return name as ScheduleOverlapPolicy;
}

function catchupWindowMs(text: string | undefined): number {
  const ms = parseIsoDuration(text ?? 'PT1H');
  if (ms === undefined || ms < 60_000)
    throw new UsageError(`--catchup-window ${text ?? ''} is not an ISO-8601 duration of at least a minute`, 'write e.g. --catchup-window PT6H');
  return ms;
}

/** Schedule ids become workflow id prefixes: keep them readable and safe. */
function scheduleId(id: string | undefined): string {
  if (id === undefined || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id))
    throw new UsageError(`schedule id ${JSON.stringify(id ?? '')} is missing or invalid`, 'use letters, digits, ".", "_" and "-", e.g. weekly-retrain');
  return id;
}

/** Temporal stores cron as calendar specs; the expression as typed is kept in the memo for display. */
function cronOf(memo: Record<string, unknown> | undefined): string {
  return typeof memo?.cron === 'string' ? memo.cron : '(calendar spec)';
}

function describeText(d: ScheduleDescription): string {
  const action = d.action.type === 'startWorkflow' ? d.action : undefined;
  const input = action?.args?.[0] as { context?: { pipelineRef?: string; setArgs?: string[] } } | undefined;
  const lines = [
    `schedule ${d.scheduleId}: ${d.state.paused ? 'PAUSED' : 'active'}${d.state.note ? ` (${d.state.note})` : ''}`,
    `  pipeline: ${input?.context?.pipelineRef ?? '?'}${input?.context?.setArgs?.length ? ` ${input.context.setArgs.map((s) => (s.startsWith('--') ? s : `--set ${s}`)).join(' ')}` : ''}`,
    `  cron: ${cronOf(d.memo)} (UTC)  overlap: ${d.policies.overlap}  catch-up window: ${Math.round(d.policies.catchupWindow / 60_000)} min`,
    `  next runs: ${
      d.info.nextActionTimes
        .slice(0, 3)
        .map((t) => t.toISOString())
        .join(', ') || 'none'
    }`,
    `  recent runs: ${d.info.recentActions.map((a) => `${a.takenAt.toISOString()} ${a.action.workflow.workflowId}`).join(', ') || 'none'}`,
  ];
  return lines.join('\n');
}

/** A missing schedule is a usage problem with a way out, not a stack trace. */
function withConnection<T>(work: (connection: TemporalConnection) => Promise<T>): Promise<T> {
  return withTemporal(work).catch((error: unknown) => {
    if (error instanceof ScheduleNotFoundError)
      throw new FlywheelError('SCHEDULE_NOT_FOUND', error.message, { fix: 'list schedules with `flywheel schedule list`' });
    throw error;
  });
}

/** `flywheel schedule create|list|describe|pause|unpause|trigger|delete`: pipeline runs as Temporal schedules. */
export async function scheduleCommand(args: ScheduleArgs): Promise<number> {
  const out = (text: string): boolean => process.stdout.write(`${text}\n`);
  switch (args.action) {
    case 'create': {
      const id = scheduleId(args.id);
      if (args.pipeline === undefined)
        throw new UsageError(
          'schedule create needs --pipeline <name>',
          'e.g. flywheel schedule create weekly-retrain --pipeline flow-agent --cron "0 2 * * 1"',
        );
      if (args.cron === undefined || args.cron.trim().split(/\s+/).length !== 5)
        throw new UsageError(`--cron ${JSON.stringify(args.cron ?? '')} is not a five-field cron expression`, 'e.g. --cron "0 2 * * 1" (Mondays 02:00 UTC)');
      const pipelineArgs: PipelineArgs = { pipeline: args.pipeline, set: args.set, config: args.config, profile: args.profile, force: [] };
      // Validated now, so a typo fails here rather than at 2 a.m. on Monday.
      const { pipeline, path, overrides } = await loadConfiguredPipeline(pipelineArgs);
      const overlap = overlapPolicy(args.overlap);
      const catchupWindow = catchupWindowMs(args.catchupWindow);
      return withConnection(async (connection) => {
        await connection.client.schedule.create({
          scheduleId: id,
          spec: { cronExpressions: [args.cron as string] },
          action: {
            type: 'startWorkflow',
            workflowType: PIPELINE_WORKFLOW,
            workflowId: `flywheel-scheduled-${id}`,
            taskQueue: taskQueueName(connection.settings.queuePrefix, 'cpu'),
            args: [
              pipelineRunInput(
                {
                  pipeline,
                  pipelineRef: args.pipeline as string,
                  pipelinePath: path,
                  overrides,
                  setArgs: describeChoices({ profile: args.profile, set: args.set }),
                  store: storeLocation(args.store),
                  readFrom: readLocations(),
                },
                connection.settings,
              ),
            ],
            typedSearchAttributes: [{ key: PIPELINE_KEY, value: pipeline.name }],
          },
          policies: { overlap, catchupWindow },
          memo: { cron: args.cron as string, pipeline: pipeline.name },
          ...(args.note === undefined ? {} : { state: { note: args.note } }),
        });
        out(
          `created schedule ${id}: ${pipeline.name} at "${args.cron}" (UTC), overlap ${String(overlap).toLowerCase()}, catch-up window ${Math.round(catchupWindow / 60_000)} min`,
        );
        return 0;
      });
    }
    case 'list':
      return withConnection(async ({ client }) => {
        const rows: Array<{ scheduleId: string; paused: boolean; cron: string[]; nextRuns: string[] }> = [];
        for await (const s of client.schedule.list()) {
          rows.push({ scheduleId: s.scheduleId, paused: s.state.paused, cron: [cronOf(s.memo)], nextRuns: s.info.nextActionTimes.map((t) => t.toISOString()) });
        }
        if (args.json) out(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) out('no schedules');
        else for (const r of rows) out(`${r.scheduleId.padEnd(24)} ${r.paused ? 'paused' : 'active'}  ${r.cron.join(', ')}  next ${r.nextRuns[0] ?? '-'}`);
        return 0;
      });
    case 'describe':
      return withConnection(async ({ client }) => {
        const d = await client.schedule.getHandle(scheduleId(args.id)).describe();
        if (args.json) {
          out(
            JSON.stringify(
              {
                scheduleId: d.scheduleId,
                paused: d.state.paused,
                note: d.state.note ?? null,
                cron: cronOf(d.memo),
                overlap: d.policies.overlap,
                catchupWindowMs: d.policies.catchupWindow,
                nextRuns: d.info.nextActionTimes,
                recentRuns: d.info.recentActions.map((a) => ({ takenAt: a.takenAt, workflowId: a.action.workflow.workflowId })),
              },
              null,
              2,
            ),
          );
        } else {
          out(describeText(d));
        }
        return 0;
      });
    case 'pause':
    case 'unpause':
    case 'trigger':
    case 'delete':
      return withConnection(async ({ client }) => {
        const handle = client.schedule.getHandle(scheduleId(args.id));
        if (args.action === 'pause') await handle.pause(args.note ?? 'paused with flywheel schedule pause');
        else if (args.action === 'unpause') await handle.unpause(args.note ?? 'unpaused with flywheel schedule unpause');
        else if (args.action === 'trigger') await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
        else await handle.delete();
        out(`${args.action === 'trigger' ? 'triggered' : `${args.action}d`} schedule ${handle.scheduleId}`);
        return 0;
      });
    default:
      throw new UsageError(
        `unknown schedule command ${JSON.stringify(args.action ?? '')}`,
        'use flywheel schedule create | list | describe | pause | unpause | trigger | delete',
      );
  }
}
