// Tangle's secrets (`{dynamicData: {secret: {name: S}}}`) read from the environment: the secret S is the
// variable FLYWHEEL_SECRET_S (upper case, other characters `_`). The name, never the value, is the
// argument a config and a cache key hold, as Tangle keys on the reference; the value is read when the
// step runs, and kept out of its logged command line and log.
import { z } from 'zod';
import { FlywheelError } from '../errors.js';

export const SecretReference = z
  .object({ dynamicData: z.object({ secret: z.object({ name: z.string().min(1) }).strict() }).strict() })
  .strict()
  .describe('a secret, read from FLYWHEEL_SECRET_<NAME>');
export type SecretReference = z.infer<typeof SecretReference>;

export function isSecretReference(value: unknown): value is SecretReference {
  return SecretReference.safeParse(value).success;
}

/** The environment variable holding secret `name`. */
export function secretVariable(name: string): string {
  return `FLYWHEEL_SECRET_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

function missing(name: string, where: string): FlywheelError {
  return new FlywheelError('SECRET_MISSING', `${where} takes the secret ${JSON.stringify(name)}, and ${secretVariable(name)} is not set`, {
    fix: `export ${secretVariable(name)}=<value> where the run starts (and on every worker that runs it)`,
    retryable: false,
  });
}

/** The secret's value; unset is SECRET_MISSING, naming the variable to set. */
export function readSecret(name: string, where: string): string {
  const value = process.env[secretVariable(name)];
  if (value === undefined) throw missing(name, where);
  return value;
}

/** A secret reference that checks, where config is validated (before anything runs), that its variable is set. */
export function secretReferenceSchema(): z.ZodType<SecretReference> {
  return SecretReference.superRefine((reference, context) => {
    const name = reference.dynamicData.secret.name;
    const variable = secretVariable(name);
    if (process.env[variable] === undefined)
      context.addIssue({
        code: 'custom',
        message: `takes the secret ${JSON.stringify(name)}: export ${variable}=<value> where the run starts (and on its workers)`,
      });
  });
}

/**
 * Text with every secret value in it replaced by `***`, for what is logged. Output is logged a line at a
 * time, so each line of a secret that spans lines is masked too (longest first, so a line is not masked
 * inside a longer one and left half shown).
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  const parts = [...new Set(secrets.flatMap((secret) => [secret, ...secret.split(/\r?\n/)]))]
    .filter((part) => part.trim() !== '')
    .sort((a, b) => b.length - a.length);
  let masked = text;
  for (const part of parts) masked = masked.split(part).join('***');
  return masked;
}
