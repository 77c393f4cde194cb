import type { ConfigOverrides } from './config-overrides.js';
import type { PipelineDefinition } from '../define/define-pipeline.js';
import type { Problem } from '../errors.js';

/**
 * The chosen profile travels inside the config overrides under this key (step ids cannot contain
 * `@`), so everything that carries overrides — Temporal workers, schedules, run records — carries the
 * profile too, and a worker rebuilds exactly the pipeline the run planned.
 */
export const PROFILE_KEY = '@profile';

/** Overrides that select `profile` (or leave the pipeline's default when undefined). */
export function withProfileOverride(overrides: ConfigOverrides, profile: string | undefined): ConfigOverrides {
  return profile === undefined ? overrides : { ...overrides, [PROFILE_KEY]: profile as never };
}

/** The definition for the profile the overrides name, and the overrides without that key. */
export function applyProfile(
  definition: PipelineDefinition,
  overrides: ConfigOverrides,
  problems: Problem[],
): { definition: PipelineDefinition; overrides: ConfigOverrides } {
  if (!(PROFILE_KEY in overrides)) return { definition, overrides };
  const { [PROFILE_KEY]: chosen, ...rest } = overrides as Record<string, unknown>;
  const available = Object.keys(definition.profiles ?? {});
  if (typeof chosen !== 'string' || definition.withProfile === undefined || !available.includes(chosen)) {
    problems.push({
      code: 'PROFILE_UNKNOWN',
      message:
        definition.withProfile === undefined
          ? `pipeline ${definition.name} declares no profiles, but profile ${JSON.stringify(chosen)} was asked for`
          : `pipeline ${definition.name} has no profile ${JSON.stringify(chosen)}`,
      fix: available.length > 0 ? `use --profile ${available.join(' | ')}` : 'leave --profile out',
    });
    return { definition, overrides: rest as ConfigOverrides };
  }
  return { definition: chosen === definition.profile ? definition : definition.withProfile(chosen), overrides: rest as ConfigOverrides };
}
