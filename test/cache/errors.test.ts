import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyError, ERROR_CODES, FlywheelError, UsageError } from '../../cache/errors.js';
import { PipelineInvalidError } from '../../engine/errors.js';
import { describeS3Error } from '../../cache/s3-errors.js';
import { REPO } from './helpers.js';

async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(REPO, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

describe('one error classification', () => {
  it('classifies engine codes by the table, whatever the throwing site says', () => {
    const timeout = classifyError(new FlywheelError('STEP_TIMEOUT', 'too slow', { retryable: false }));
    expect(timeout).toMatchObject({ code: 'STEP_TIMEOUT', retryable: true, exit: 1 });
    expect(classifyError(new FlywheelError('STEP_PROCESS_FAILED', 'exited with code 3'))).toMatchObject({ retryable: true });
    expect(classifyError(new FlywheelError('STEP_PROCESS_NOT_STARTED', 'no such command'))).toMatchObject({ retryable: false });
    expect(classifyError(new FlywheelError('STORE_INVALID', 'bad', { fix: 'write s3://b/p' }))).toEqual({
      code: 'STORE_INVALID',
      message: 'bad',
      retryable: false,
      exit: 2,
      fix: 'write s3://b/p',
    });
    expect(classifyError(new UsageError('flywheel run takes exactly one pipeline', 'write flywheel run <pipeline>'))).toMatchObject({ code: 'USAGE', exit: 2 });
    expect(classifyError(new PipelineInvalidError('p', [{ code: 'PIPELINE_CYCLE', message: 'a → b → a', fix: 'break it' }]))).toMatchObject({
      code: 'PIPELINE_INVALID',
      retryable: false,
      exit: 2,
    });
  });

  it("lets a step's own codes say whether they are retryable", () => {
    expect(classifyError(new FlywheelError('JUDGE_UNTRUSTED', 'kappa 0.4', { retryable: false }))).toMatchObject({ retryable: false, exit: 2 });
    expect(classifyError(new FlywheelError('TRAINER_CRASHED', 'signal 9'))).toMatchObject({ retryable: true, exit: 1 });
  });

  it("recognises zod's validation errors by class, also from another copy of zod, and anything else as a retryable step failure", () => {
    const result = z.object({ n: z.number() }).safeParse({ n: 'x' });
    expect(result.success).toBe(false);
    expect(classifyError(result.error)).toMatchObject({ code: 'STEP_INVALID_DATA', retryable: false });
    // What zod's own instanceof looks at: an error made by another copy of zod 4 carries the same marks.
    const foreign = Object.assign(new Error('[{"code":"invalid_type"}]'), { _zod: { traits: new Set(['$ZodError', 'ZodError']) } });
    expect(classifyError(foreign)).toMatchObject({ code: 'STEP_INVALID_DATA' });
    expect(classifyError(new TypeError('x is undefined'))).toMatchObject({ code: 'STEP_FAILED', retryable: true, exit: 1 });
    expect(classifyError('a string')).toMatchObject({ code: 'STEP_FAILED', message: 'non-Error value thrown: a string' });
  });

  it('reads a write that found no space left (a full scratch disk, a quota) as DISK_FULL, worth another attempt, with what to free', async () => {
    // /dev/full answers every write with ENOSPC: the error node gives a step whose disk filled up.
    const error = await writeFile('/dev/full', 'model weights').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'ENOSPC' });
    const classified = classifyError(error);
    expect(classified).toMatchObject({ code: 'DISK_FULL', retryable: true, exit: 1 });
    expect(classified.message).toMatch(/^no space left on the disk: ENOSPC/);
    expect(classified.fix).toMatch(/cache gc/);
    expect(classifyError(Object.assign(new Error('Disk quota exceeded'), { code: 'EDQUOT' }))).toMatchObject({ code: 'DISK_FULL' });
    // A download with no room to land is the local disk's failure, not S3's.
    const download = describeS3Error(error, 'GET team/cas/sha256/ab/abcd', 'S3 store s3://team/flywheel');
    expect(classifyError(download)).toMatchObject({ code: 'DISK_FULL', retryable: true });
    expect(download.message).toMatch(/^no space left on the disk during GET team\/cas\/sha256\/ab\/abcd from S3 store s3:\/\/team\/flywheel: ENOSPC/);
  });

  it('lists only codes that some code throws or reports', async () => {
    const files = (await Promise.all(['cache', 'engine', 'cli', 'activities', 'workflows', 'workers'].map(sources))).flat();
    // The table itself does not count: a code must be thrown, or produced by the classification.
    const withoutTable = (text: string): string => text.replace(/export const ERROR_CODES = \{[\s\S]*?\} satisfies/, '');
    const text = (await Promise.all(files.map(async (f) => withoutTable(await readFile(join(REPO, f), 'utf8'))))).join('\n');
    const unused = Object.keys(ERROR_CODES).filter((code) => !text.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });
});
