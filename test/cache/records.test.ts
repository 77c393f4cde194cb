import { describe, expect, it } from 'vitest';
import { ActionEntry, asActionEntry, asRunRecord } from '../../cache/records.js';

const hex = (c: string): string => c.repeat(64);

function valid(): Record<string, unknown> {
  return {
    format: 'flywheel.action/v1',
    key: hex('a'),
    step: 'train',
    createdAt: '2026-11-26T10:00:00.000Z',
    durationMs: 1234,
    runId: '20261126T100000.000Z-abcdef',
    outputs: { model: { kind: 'dir', digest: hex('b'), size: 10 }, report: { kind: 'file', digest: hex('c'), size: 0, fileName: 'report.md' } },
    components: {
      step: 'train',
      version: '1',
      ports: { inputs: { data: 'file' }, outputs: { model: 'dir', report: 'file:report.md' } },
      config: { lr: 0.1 },
      inputs: { data: { from: 'collect.data', digest: hex('d'), fileName: 'data.jsonl' }, base: null },
      env: { HF_HOME: null, SEED: '1' },
    },
  };
}

type Mutation = [string, (e: Record<string, unknown>) => void];
const at = (e: Record<string, unknown>, ...path: string[]): Record<string, unknown> => path.reduce((o, k) => o[k] as Record<string, unknown>, e);

describe('asActionEntry agrees with the ActionEntry schema', () => {
  it.each<Mutation>([
    ['nothing changed', () => undefined],
    ['wrong format', (e) => void (e.format = 'flywheel.action/v0')],
    ['key not hex', (e) => void (e.key = 'zz')],
    ['key upper-case', (e) => void (e.key = hex('A'))],
    ['step missing', (e) => void delete e.step],
    ['negative duration', (e) => void (e.durationMs = -1)],
    ['duration as text', (e) => void (e.durationMs = '5')],
    ['runId missing', (e) => void delete e.runId],
    ['outputs an array', (e) => void (e.outputs = [])],
    ['output of unknown kind', (e) => void (at(e, 'outputs', 'model').kind = 'blob')],
    ['output digest short', (e) => void (at(e, 'outputs', 'model').digest = 'abc')],
    ['output size fractional', (e) => void (at(e, 'outputs', 'model').size = 1.5)],
    ['output size negative', (e) => void (at(e, 'outputs', 'model').size = -1)],
    ['output fileName a number', (e) => void (at(e, 'outputs', 'report').fileName = 7)],
    ['components missing', (e) => void delete e.components],
    ['components without ports', (e) => void delete at(e, 'components').ports],
    ['port signature not text', (e) => void (at(e, 'components', 'ports', 'inputs').data = 1)],
    ['input without digest', (e) => void delete at(e, 'components', 'inputs', 'data').digest],
    ['input from missing', (e) => void delete at(e, 'components', 'inputs', 'data').from],
    ['env value a number', (e) => void (at(e, 'components', 'env').SEED = 1)],
    ['config absent', (e) => void delete at(e, 'components').config],
    ['not an object', (e) => void Object.keys(e).forEach((k) => delete e[k])],
    ['with a code fingerprint', (e) => void (e.code = { scheme: 's', digest: hex('c'), files: { 'steps/a.ts': hex('d') } })],
    ['code digest short', (e) => void (e.code = { scheme: 's', digest: 'abc', files: {} })],
    ['code without scheme', (e) => void (e.code = { digest: hex('c'), files: {} })],
    ['code file digest a number', (e) => void (e.code = { scheme: 's', digest: hex('c'), files: { 'a.ts': 1 } })],
    ['declined', (e) => void (e.declined = 'slice x regresses')],
    ['declined not text', (e) => void (e.declined = true)],
    [
      'usage',
      (e) =>
        void (e.usage = { wallMs: 5, cpuMs: 2, gpuSeconds: { 'NVIDIA H200': 3600 }, tokens: { m: { input: 3, output: 1, calls: 1 } }, counts: { pages: 2 } }),
    ],
    ['usage of an offline stand-in', (e) => void (e.usage = { wallMs: 5, cpuMs: 2, tokens: { m: { input: 0, output: 0, calls: 4, offline: true } } })],
    ['usage without cpu', (e) => void (e.usage = { wallMs: 5 })],
    ['usage with negative GPU-seconds', (e) => void (e.usage = { wallMs: 5, cpuMs: 2, gpuSeconds: { H100: -1 } })],
    ['usage with fractional tokens', (e) => void (e.usage = { wallMs: 5, cpuMs: 2, tokens: { m: { input: 1.5, output: 0, calls: 1 } } })],
    ['usage with offline false', (e) => void (e.usage = { wallMs: 5, cpuMs: 2, tokens: { m: { input: 0, output: 0, calls: 1, offline: false } } })],
    ['usage with a count as text', (e) => void (e.usage = { wallMs: 5, cpuMs: 2, counts: { pages: '2' } })],
  ])('%s', (_name, mutate) => {
    const entry = valid();
    mutate(entry);
    expect(asActionEntry(entry) !== undefined).toBe(ActionEntry.safeParse(entry).success);
  });
});

describe('asRunRecord', () => {
  const record = (): Record<string, unknown> => ({
    format: 'flywheel.run/v1',
    runId: '20261126T100000.000Z-abcdef',
    pipeline: 'weekly',
    status: 'succeeded',
    startedAt: '2026-11-26T10:00:00.000Z',
    host: 'h',
    pid: 1,
    overrides: [],
    steps: [{ id: 'train', step: 'train', status: 'cached', reasonCodes: ['cache-hit'], reason: 'hit', outputs: {} }],
  });

  it('accepts a record the engine wrote', () => {
    expect(asRunRecord(record()).runId).toBe('20261126T100000.000Z-abcdef');
  });

  it.each<[string, (r: Record<string, unknown>) => void]>([
    ['another format', (r) => void (r.format = 'x')],
    ['no pipeline', (r) => void delete r.pipeline],
    ['unknown status', (r) => void (r.status = 'done')],
    ['steps not a list', (r) => void (r.steps = {})],
    ['a step with an unknown status', (r) => void ((r.steps as Array<Record<string, unknown>>)[0] = { id: 'x', status: 'weird', outputs: {} })],
    ['a step without outputs', (r) => void ((r.steps as Array<Record<string, unknown>>)[0] = { id: 'x', status: 'cached' })],
  ])('rejects %s', (_name, mutate) => {
    const r = record();
    mutate(r);
    expect(() => asRunRecord(r)).toThrow(/not a run record/);
  });
});
