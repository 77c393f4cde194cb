import { Writable } from 'node:stream';
import { LocalStore } from '../../cache/local-store.js';
import type { RunRecord } from '../../cache/records.js';
import type { PipelineDefinition } from '../../engine/define/define-pipeline.js';
import { runLocal, type LocalRunOptions } from '../../engine/drivers/local-executor.js';
import { createLogger } from '../../engine/logger.js';
import { validatePipeline } from '../../engine/validate/validate.js';
import { tempDir } from './temp-dir.js';

/** A logger whose JSON lines are kept in memory, so tests can read what was logged. */
export function memoryLogger(level = 'debug'): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level, pretty: false, destination });
  const lines = (): Array<Record<string, unknown>> =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines };
}

/** Runs pipelines in this process against one fresh local store. */
export async function inProcessRunner(): Promise<{
  store: LocalStore;
  run: (definition: PipelineDefinition, options?: Partial<LocalRunOptions>) => Promise<RunRecord>;
}> {
  const store = new LocalStore(await tempDir('flywheel-store'));
  const { logger } = memoryLogger('warn');
  return {
    store,
    run: (definition, options = {}) => runLocal(validatePipeline(definition), { store, logger, ...options }),
  };
}

export function statusOf(run: RunRecord): Record<string, string> {
  return Object.fromEntries(run.steps.map((s) => [s.id, s.status]));
}
