import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CalibratedJudge } from '../../steps/judge/calibrate-judge.js';
import type { CalibrationItem } from '../../steps/judge/calibration-generator.js';
import { searchJudgeSpec } from '../../steps/judge/calibration-search.js';
import { defaultJudgeSpec, specWithRubric } from '../../steps/judge/judge-spec.js';
import { offlineJudge } from '../../steps/judge/offline-judge.js';
import { FIXTURES, REPO, runCli, runJson } from '../support/cli.js';
import { readJudgePrompt, scriptedJudgeVerdict } from '../support/scripted-judge.js';
import { scriptedServers } from '../support/openai-server.js';
import { tempDir } from '../support/temp-dir.js';

const serve = scriptedServers();

describe('the LLM judge path (a local OpenAI-compatible server with scripted judgements)', () => {
  it('calibrates through the endpoint: rubric and few-shot in the prompt, malformed answers re-asked then counted, verdicts memoized', async () => {
    const all = (await readFile(join(REPO, 'data', 'judge', 'calibration.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as CalibrationItem);
    const subset = [...all.filter((i) => i.split === 'development').slice(0, 40), ...all.filter((i) => i.split === 'held-out').slice(0, 40)];
    const stubborn = subset.at(-1) as CalibrationItem; // a held-out item the model never answers properly
    let flaky = 0;
    // A scripted model that follows whatever rubric and examples its prompt holds (the offline rules read them).
    const server = await serve((request) => {
      const prompt = readJudgePrompt(request);
      if (prompt.request === stubborn.request && JSON.stringify(prompt.output) === JSON.stringify(stubborn.output)) return { content: 'I think it is fine.' };
      if (flaky++ === 3) return { content: '{"label": "excellent"}' }; // not on the scale: asked again
      return { content: scriptedJudgeVerdict(prompt) };
    });
    const cwd = await tempDir('judge-llm');
    const calibration = join(cwd, 'calibration.jsonl');
    await writeFile(calibration, subset.map((i) => `${JSON.stringify(i)}\n`).join(''));
    const env = {
      FLYWHEEL_TEST_CALIBRATION: calibration,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: server.baseURL,
      FLYWHEEL_LLM_MEMO_DIR: join(cwd, 'memo'),
    };
    const args = ['--set', 'calibrate-judge.model=judge-llm', '--set', 'calibrate-judge.concurrency=4'];

    const first = await runJson(join(FIXTURES, 'judge-calibration.ts'), args, { cwd, env });
    expect(first.code, first.stderr).toBe(0);
    const judge = JSON.parse((await runCli(['output', 'calibrate-judge.judge'], { cwd, env })).stdout) as CalibratedJudge;
    expect(judge).toMatchObject({ judge: `openai:judge-llm@${server.baseURL}`, offline: false });
    expect(judge.heldOut.unjudged).toBe(1);
    expect(judge.heldOut.items).toBe(40);
    // The same search as the offline rules make on the same items, minus the unanswered one.
    const offline = await searchJudgeSpec(
      subset.filter((i) => i !== stubborn),
      async (spec, part) => part.map((i) => offlineJudge(i.request, i.output, spec).label),
      specWithRubric(defaultJudgeSpec('judge-llm'), 'lenient'),
      { maxIterations: 6, maxFewShot: 6, fewShotCandidates: 3, minGain: 0.005 },
    );
    expect(judge.spec.rubricName).toBe(offline.chosen.rubricName);
    expect(judge.spec.fewShot.map((e) => e.from)).toEqual(offline.chosen.fewShot.map((e) => e.from));
    // Few-shot candidates were scored through the endpoint: their examples come as earlier user/assistant turns.
    const withExamples = server.requests.find((r) => r.body.messages.some((m) => m.role === 'assistant'));
    expect(withExamples?.body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(JSON.parse(withExamples?.body.messages[2]?.content ?? '{}')).toMatchObject({
      label: expect.any(String),
      reason: expect.stringContaining('annotators labelled it'),
    });
    expect(server.requests.every((r) => r.body.messages[0]?.role === 'system' && r.body.temperature === 0)).toBe(true);

    // Nothing changed: forced to run again, every verdict but the unanswered one comes from the memo.
    const before = server.requests.length;
    const again = await runJson(join(FIXTURES, 'judge-calibration.ts'), [...args, '--force', 'calibrate-judge'], { cwd, env });
    expect(again.code, again.stderr).toBe(0);
    const fresh = server.requests.slice(before).map(readJudgePrompt);
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.every((p) => p.request === stubborn.request)).toBe(true);
    await runCli(['output', 'calibrate-judge.report', '--out', join(cwd, 'report')], { cwd, env });
    const report = await readFile(join(cwd, 'report', 'report.md'), 'utf8');
    expect(report).toContain('1 item(s) got no valid judgement');
    expect(report).toContain('annotator 1 vs annotator 2 (ceiling)');
  }, 120_000);
});
