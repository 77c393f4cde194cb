import { loadPrices } from '../engine/cost/price-table.js';
import type { PriceTable } from '../cache/records.js';
import { trustedKeyIds, trustFromEnv } from '../cache/trust-config.js';
import { Client, Connection, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { ConfigOverrides } from '../engine/validate/config-overrides.js';
import { parseIsoDuration } from '../engine/durations.js';
import { FlywheelError } from '../engine/errors.js';
import { newRunId } from '../engine/records/run-history.js';
import { temporalSettings, temporalUnreachable, type TemporalSettings } from './temporal-settings.js';
import type { ResolvedPipeline } from '../engine/validate/validate.js';
import { PIPELINE_KEY, RUN_ID_KEY } from '../workflows/search-attributes.js';
import { taskQueueName } from '../engine/core/queues.js';
import { SEARCH_ATTRIBUTE_RUN_ID, type PipelineRunInput, type PipelineRunResult, type RunProgress } from '../workflows/types.js';

export const PIPELINE_WORKFLOW = 'pipelineWorkflow';
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 30_000;

export interface TemporalRunRequest {
  pipeline: ResolvedPipeline;
  /** The pipeline as the user named it, and the file the client resolved. */
  pipelineRef: string;
  pipelinePath: string;
  overrides: ConfigOverrides;
  setArgs: readonly string[];
  /** Store location as `storeLocation()` writes it. */
  store: string;
  /** Read-only layers, as `readLocations()` writes them. */
  readFrom?: readonly string[];
  force?: readonly string[];
  forceAll?: boolean;
  concurrency?: number;
}

export interface TemporalConnection {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

export async function connectTemporal(settings: TemporalSettings): Promise<TemporalConnection> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.address, connectTimeout: 5_000 });
  } catch (error) {
    throw temporalUnreachable(settings, error);
  }
  return { client: new Client({ connection, namespace: settings.namespace }), settings, close: () => connection.close() };
}

/** Connects with the settings from the environment, runs `work`, and always closes the connection. */
export async function withTemporal<T>(work: (connection: TemporalConnection) => Promise<T>): Promise<T> {
  const connection = await connectTemporal(temporalSettings());
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}

/** The workflow input for a run (also the fixed action of a schedule, whose runs derive their own ids). */
export function pipelineRunInput(
  request: TemporalRunRequest,
  settings: TemporalSettings,
  env: NodeJS.ProcessEnv = process.env,
): Omit<PipelineRunInput, 'runId'> {
  const heartbeat = env.FLYWHEEL_HEARTBEAT_TIMEOUT;
  const heartbeatTimeoutMs = heartbeat === undefined || heartbeat === '' ? DEFAULT_HEARTBEAT_TIMEOUT_MS : parseIsoDuration(heartbeat);
  if (heartbeatTimeoutMs === undefined || heartbeatTimeoutMs < 1000) {
    throw new FlywheelError('CONFIG_INVALID', `FLYWHEEL_HEARTBEAT_TIMEOUT=${heartbeat ?? ''} is not an ISO-8601 duration of at least a second`, {
      fix: 'write e.g. FLYWHEEL_HEARTBEAT_TIMEOUT=PT30S',
    });
  }
  const prices = loadPrices(env);
  return {
    context: {
      pipelineRef: request.pipelineRef,
      pipelinePath: request.pipelinePath,
      overrides: request.overrides,
      setArgs: [...request.setArgs],
      store: request.store,
      ...(request.readFrom === undefined || request.readFrom.length === 0 ? {} : { readFrom: [...request.readFrom] }),
      // The run's trust travels with it: a worker trusting less would serve entries the client would refuse.
      ...(trustedKeyIds(trustFromEnv(env)).length === 0 ? {} : { trustedKeys: trustedKeyIds(trustFromEnv(env)) }),
      queuePrefix: settings.queuePrefix,
      // Read where the run is started (a schedule: where it was made), so every worker prices it alike.
      ...(prices === undefined ? {} : { prices }),
    },
    options: { force: [...(request.force ?? [])], forceAll: request.forceAll ?? false, concurrency: request.concurrency ?? 8, heartbeatTimeoutMs },
  };
}

export function runWorkflowId(runId: string): string {
  return `flywheel-run-${runId}`;
}

/** Starts a pipeline run on Temporal; it continues even if this process exits. */
export async function startTemporalRun(
  connection: TemporalConnection,
  request: TemporalRunRequest,
): Promise<{ runId: string; handle: WorkflowHandle; prices: PriceTable | undefined }> {
  const runId = newRunId();
  const input = pipelineRunInput(request, connection.settings);
  const handle = await connection.client.workflow.start(PIPELINE_WORKFLOW, {
    workflowId: runWorkflowId(runId),
    taskQueue: taskQueueName(connection.settings.queuePrefix, 'cpu'),
    args: [{ ...input, runId } satisfies PipelineRunInput],
    typedSearchAttributes: [
      { key: PIPELINE_KEY, value: request.pipeline.name },
      { key: RUN_ID_KEY, value: runId },
    ],
  });
  return { runId, handle, prices: input.context.prices?.table };
}

/** Whether any worker polls the cpu queue: without one a run would wait silently forever. */
export async function hasCpuWorker(connection: TemporalConnection): Promise<boolean> {
  const response = await connection.client.workflowService.describeTaskQueue({
    namespace: connection.settings.namespace,
    taskQueue: { name: taskQueueName(connection.settings.queuePrefix, 'cpu') },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (response.pollers?.length ?? 0) > 0;
}

/** The workflow of a run: by its id when the CLI started it, else by search attribute (scheduled runs). */
export async function findRunWorkflow(
  connection: TemporalConnection,
  runId: string,
): Promise<WorkflowHandle<(input: PipelineRunInput) => Promise<PipelineRunResult>> | undefined> {
  const direct = connection.client.workflow.getHandle(runWorkflowId(runId));
  try {
    await direct.describe();
    return direct;
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
  for await (const execution of connection.client.workflow.list({ query: `${SEARCH_ATTRIBUTE_RUN_ID} = '${runId.replace(/'/g, '')}'`, pageSize: 1 })) {
    return connection.client.workflow.getHandle(execution.workflowId);
  }
  return undefined;
}

export async function queryProgress(handle: WorkflowHandle): Promise<RunProgress> {
  return handle.query<RunProgress>('progress');
}
