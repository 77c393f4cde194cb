// A project that runs test/fixtures/judge-drift.ts against a scripted judge server: a small calibration
// set (20 development + 20 held-out items), the committed golden set, and the judge-drift history in the
// project. For the tests of the golden-set drift tests, per week and sequential.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CalibrationItem } from '../../steps/judge/calibration-generator.js';
import type { GoldenEntry } from '../../steps/judge/golden-drift.js';
import { FIXTURES, REPO, runCli, runJson } from './cli.js';

export async function judgeDriftProject(cwd: string, judgeBaseURL: string) {
  const all = (await readFile(join(REPO, 'data', 'judge', 'calibration.jsonl'), 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as CalibrationItem);
  const calibration = join(cwd, 'calibration.jsonl');
  await writeFile(calibration, [...all.slice(0, 20), ...all.slice(120, 140)].map((i) => `${JSON.stringify(i)}\n`).join(''));
  const env = {
    FLYWHEEL_TEST_CALIBRATION: calibration,
    FLYWHEEL_TEST_GOLDEN: join(REPO, 'data', 'judge', 'golden.jsonl'),
    FLYWHEEL_JUDGE_HISTORY: join(cwd, 'history'),
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: judgeBaseURL,
    FLYWHEEL_LLM_MEMO_DIR: join(cwd, 'memo'),
  };
  return {
    env,
    historyPath: join(cwd, 'history', 'golden-history.json'),
    run: (extra: string[] = []) => runJson(join(FIXTURES, 'judge-drift.ts'), ['--set', 'calibrate-judge.model=judge-llm', ...extra], { cwd, env }),
    /** The drift step's output of the latest successful run, or of the run named. */
    drift: async (runId?: string): Promise<GoldenEntry> =>
      JSON.parse((await runCli(['output', 'judge-drift.drift', ...(runId === undefined ? [] : ['--run', runId])], { cwd, env })).stdout) as GoldenEntry,
  };
}
