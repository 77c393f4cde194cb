import type { KeyComponents } from '../../cache/cache-key.js';
import type { ReasonCode, StepRunRecord } from '../../cache/records.js';

/** Enough of a digest to tell two apart in a sentence. */
const shortDigest = (digest: string): string => digest.slice(0, 12);

/** Why a step has to run, as stable codes plus one readable sentence. */
export interface Explanation {
  codes: ReasonCode[];
  reason: string;
}

function show(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Every leaf path whose value differs between two readable configs, as `path: old → new`. */
export function diffConfig(before: unknown, after: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffConfig(before[k], after[k], path === '' ? k : `${path}.${k}`));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [`${path === '' ? '(whole config)' : path}: ${show(before)} → ${show(after)}`];
}

function diffRecord<T>(before: Record<string, T>, after: Record<string, T>, same: (a: T, b: T) => boolean): string[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.filter((n) => !(n in before && n in after && same(before[n] as T, after[n] as T)));
}

/**
 * Explains a cache miss relative to the pipeline's last run: which config path changed (old → new),
 * whether the version was bumped, which upstream output or declared env var changed.
 */
export function explainMiss(current: KeyComponents, previous: StepRunRecord | undefined, hadPreviousRun: boolean): Explanation {
  if (!hadPreviousRun) return { codes: ['first-run'], reason: 'first run: no earlier finished run of this pipeline to compare with' };
  if (previous === undefined) return { codes: ['new-step'], reason: 'new step: not in the last run' };
  if (previous.components === undefined) {
    return { codes: ['previous-failed'], reason: `did not get as far as computing a key in the last run (${previous.status})` };
  }
  const before = previous.components;
  const codes: ReasonCode[] = [];
  const parts: string[] = [];
  if (before.step !== current.step || before.version !== current.version) {
    codes.push('version-changed');
    parts.push(
      before.step === current.step
        ? `version ${before.version} → ${current.version}`
        : `step code changed: ${before.step}@${before.version} → ${current.step}@${current.version}`,
    );
  }
  const portChanges = [
    ...diffConfig(before.ports.inputs, current.ports.inputs).map((c) => `input ${c}`),
    ...diffConfig(before.ports.outputs, current.ports.outputs).map((c) => `output ${c}`),
  ];
  if (portChanges.length > 0) {
    codes.push('interface-changed');
    parts.push(`step interface changed: ${portChanges.join(', ')}`);
  }
  if (JSON.stringify(before.map) !== JSON.stringify(current.map)) {
    codes.push('interface-changed');
    parts.push(`map ${diffConfig(before.map ?? {}, current.map ?? {}).join(', ') || 'changed'}`);
  }
  const configChanges = diffConfig(before.config, current.config);
  if (configChanges.length > 0) {
    codes.push('config-changed');
    parts.push(`config ${configChanges.join(', ')}`);
  }
  const changedInputs = diffRecord(before.inputs, current.inputs, (a, b) => a?.digest === b?.digest && a?.fileName === b?.fileName);
  if (changedInputs.length > 0) {
    codes.push('upstream-changed');
    parts.push(
      changedInputs
        .map((name) => {
          const was = before.inputs[name];
          const now = current.inputs[name];
          const from = now?.from ?? was?.from ?? name;
          if (was && now && was.from !== now.from) return `input ${name} rewired from ${was.from} to ${now.from}`;
          if (was && now && was.digest === now.digest) return `upstream output ${from} now arrives as ${now.fileName ?? name} (was ${was.fileName ?? name})`;
          return `upstream output ${from} changed (${was ? shortDigest(was.digest) : 'none'} → ${now ? shortDigest(now.digest) : 'none'})`;
        })
        .join(', '),
    );
  }
  const changedEnv = diffRecord(before.env, current.env, (a, b) => a === b);
  if (changedEnv.length > 0) {
    codes.push('env-changed');
    parts.push(`env ${changedEnv.join(', ')} changed`);
  }
  if (JSON.stringify(before.external) !== JSON.stringify(current.external)) {
    codes.push('external-changed');
    parts.push(`outside state changed (${show(before.external)} → ${show(current.external)})`);
  }
  if (codes.length > 0) return { codes, reason: parts.join('; ') };
  if (previous.status === 'failed') return { codes: ['previous-failed'], reason: 'failed in the last run; trying again' };
  return { codes: ['entry-missing'], reason: 'inputs unchanged since the last run, but the result is no longer in the cache (deleted or collected)' };
}

/** The config, version and interface changes of a step since the last run, whatever its inputs turn out to be (a plan's pending step). */
export function ownChanges(current: Pick<KeyComponents, 'step' | 'version' | 'ports' | 'config'>, previous: StepRunRecord | undefined): string | undefined {
  if (previous?.components === undefined) return undefined;
  const own = explainMiss({ ...previous.components, ...current }, previous, true);
  return own.codes.some((c) => c === 'config-changed' || c === 'version-changed' || c === 'interface-changed') ? own.reason : undefined;
}
