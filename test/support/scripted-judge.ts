import type { CalibrationItem } from '../../steps/judge/calibration-generator.js';
import { defaultJudgeSpec, JudgeSpec, RUBRICS, specWithRubric } from '../../steps/judge/judge-spec.js';
import { offlineJudge } from '../../steps/judge/offline-judge.js';
import type { ChatRequest } from './openai-server.js';

const ITEM = /^Merchant request:\n([\s\S]*)\n\nWorkflow the agent built:\n([\s\S]*)$/;

/** Reads a judge prompt back: which rubric the system turn states, the few-shot turns, and the item. */
export function readJudgePrompt(request: ChatRequest): { spec: JudgeSpec; request: string; output: unknown } {
  const [system, ...turns] = request.body.messages;
  const rubric = Object.entries(RUBRICS).find(([, v]) => system?.content.includes(v.rubric));
  if (rubric === undefined) throw new Error('no known rubric in the system turn');
  const fewShot = [];
  for (let i = 0; i + 1 < turns.length - 1; i += 2) {
    const [, r, o] = ITEM.exec(turns[i]?.content ?? '') ?? [];
    const answer = JSON.parse(turns[i + 1]?.content ?? '{}') as { label: string; reason: string };
    fewShot.push({ from: `shot-${i}`, request: r, output: JSON.parse(o ?? 'null'), label: answer.label, explanation: answer.reason });
  }
  const [, r, o] = ITEM.exec(turns.at(-1)?.content ?? '') ?? [];
  return { spec: JudgeSpec.parse({ ...specWithRubric(defaultJudgeSpec(), rubric[0]), fewShot }), request: r ?? '', output: JSON.parse(o ?? 'null') };
}

/** Whether a chat request is a judge prompt (rather than a request writer's or an agent's). */
export function isJudgePrompt(request: ChatRequest): boolean {
  return request.body.messages[0]?.content.startsWith('You grade workflows') ?? false;
}

/**
 * The verdict of a scripted judge model that follows whatever rubric and examples its prompt holds
 * (the offline rules read them), as the JSON answer the judge asks for.
 */
export function scriptedJudgeVerdict(prompt: ReturnType<typeof readJudgePrompt>): string {
  const verdict = offlineJudge(prompt.request, prompt.output as CalibrationItem['output'], prompt.spec);
  return JSON.stringify({ label: verdict.label, reason: verdict.reasons[0] ?? '' });
}
