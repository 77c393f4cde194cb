import { z } from 'zod';

/** How an error is treated wherever it ends up: retried or not (step retries, Temporal), and the CLI's exit code. */
export interface ErrorClass {
  retryable: boolean;
  /** 2: something must be fixed first (input, configuration, a failure no retry changes); 1: a failed run, a transient failure. */
  exit: 1 | 2;
  /**
   * What the step ran on failed (the store, the disk, the worker, the connection to Temporal), not the step:
   * a map never leaves such an element out under minSuccessRatio, since a clean run would have included it.
   */
  infrastructure?: true;
}

const BAD_INPUT: ErrorClass = { retryable: false, exit: 2 };
/** A step's failure no retry can change; ending a command, it says something must be fixed first (exit 2). */
const FINAL: ErrorClass = { retryable: false, exit: 2 };
const TRANSIENT: ErrorClass = { retryable: true, exit: 1 };
/** Transient, and not the step's own failure (see ErrorClass.infrastructure). */
const INFRASTRUCTURE: ErrorClass = { retryable: true, exit: 1, infrastructure: true };

/**
 * Every code the engine itself throws, classified once: both executors, the Temporal boundary and the CLI
 * read this table. Step code may throw FlywheelError with codes of its own and say whether they are retryable.
 */
export const ERROR_CODES = {
  USAGE: BAD_INPUT,
  PIPELINE_INVALID: BAD_INPUT,
  PIPELINE_NOT_FOUND: BAD_INPUT,
  PIPELINE_LOAD_FAILED: BAD_INPUT,
  CONFIG_INVALID: BAD_INPUT,
  CONFIG_FILE_UNREADABLE: BAD_INPUT,
  STORE_INVALID: BAD_INPUT,
  STORE_UNSUPPORTED: BAD_INPUT,
  /** An environment variable holds a value Flywheel does not understand. */
  ENV_INVALID: BAD_INPUT,
  INVALID_RUN_ID: BAD_INPUT,
  RUN_NOT_FOUND: BAD_INPUT,
  SCHEDULE_NOT_FOUND: BAD_INPUT,
  S3_BUCKET_MISSING: BAD_INPUT,
  S3_ACCESS_DENIED: BAD_INPUT,
  WORKFLOW_BUNDLE_MISSING: BAD_INPUT,
  WORKER_MISCONFIGURED: BAD_INPUT,
  /** FLYWHEEL_SIGNING_KEY or FLYWHEEL_TRUSTED_KEYS names a file that is not a readable Ed25519 key. */
  TRUST_KEY_INVALID: BAD_INPUT,
  /** FLYWHEEL_PRICES or flywheel.prices.json is missing, not JSON or not a price table. */
  PRICES_INVALID: BAD_INPUT,
  /** A component.yaml that is not YAML, not a component, or whose command line uses an unknown placeholder. */
  COMPONENT_INVALID: BAD_INPUT,
  COMPONENT_NOT_FOUND: BAD_INPUT,
  /** A pipeline's componentRef.digest is not the digest of the component text it carries. */
  COMPONENT_DIGEST_MISMATCH: BAD_INPUT,
  /** FLYWHEEL_LAUNCHER names no launcher. */
  COMPONENT_LAUNCHER_UNKNOWN: BAD_INPUT,
  /** A Tangle pipeline file whose graph is wired wrong: an unknown task or output, a cycle, an unsupported argument. */
  PIPELINE_SPEC_INVALID: BAD_INPUT,
  /** A secret a pipeline takes is not in the environment (FLYWHEEL_SECRET_<NAME>). */
  SECRET_MISSING: BAD_INPUT,
  /** A worker computes another key than the run planned: it runs other code or other declared env values. */
  KEY_MISMATCH: FINAL,
  EXTERNAL_STATE_FAILED: FINAL,
  INPUT_INVALID: FINAL,
  INPUT_UNAVAILABLE: FINAL,
  STEP_OUTPUT_INVALID: FINAL,
  STEP_OUTPUT_MISSING: FINAL,
  /** Step code threw a zod validation error: the data is wrong, a retry sees the same data. */
  STEP_INVALID_DATA: FINAL,
  /** A component's image needs a container engine the launcher does not have. */
  COMPONENT_IMAGE_UNSUPPORTED: FINAL,
  /** A component exited 0 without writing a declared output. */
  COMPONENT_OUTPUT_MISSING: FINAL,
  /** An output wired to a component's value input is a directory or over 10,000 bytes. */
  COMPONENT_INPUT_INVALID: FINAL,
  /** A component's program exited non-zero (like any child process, worth another attempt). */
  COMPONENT_FAILED: TRANSIENT,
  /** A step reported a negative, infinite or unnamed amount through `ctx.usage`: a bug in the step. */
  USAGE_INVALID: FINAL,
  /** A child process could not be started (not installed, not on PATH): retrying finds the same. */
  STEP_PROCESS_NOT_STARTED: FINAL,
  STEP_CANCELLED: FINAL,
  /** A map's collection is not what `over` promised (not a JSON array, a line that is not JSON). */
  MAP_OVER_INVALID: FINAL,
  /** Fewer of a map's elements succeeded than its minSuccessRatio asks; the record lists them. */
  MAP_ELEMENTS_FAILED: FINAL,
  /** A finished element's cache entry vanished before the collection was assembled (a concurrent gc). */
  MAP_ELEMENT_MISSING: TRANSIENT,
  /** A stored output's blob is missing or damaged (`flywheel output`): re-run or `cache verify --fix`. */
  OUTPUT_UNAVAILABLE: { retryable: false, exit: 1 },
  /** A pipeline run failed; its record says which steps and why. */
  RUN_FAILED: { retryable: false, exit: 1 },
  STEP_FAILED: TRANSIENT,
  /** A write found no space left on its disk (ENOSPC, or a quota: EDQUOT): worth another attempt once space is freed. */
  DISK_FULL: INFRASTRUCTURE,
  STEP_TIMEOUT: TRANSIENT,
  /** A child process (`runProcess`) exited non-zero: worth another attempt. */
  STEP_PROCESS_FAILED: TRANSIENT,
  /** The execution a run waited for ended without a result (terminated, timed out): try again. */
  STEP_EXECUTION_LOST: INFRASTRUCTURE,
  WORKER_SHUTDOWN: INFRASTRUCTURE,
  TEMPORAL_UNREACHABLE: INFRASTRUCTURE,
  S3_UNREACHABLE: INFRASTRUCTURE,
  S3_ERROR: INFRASTRUCTURE,
  /** A Temporal worker woke to find the activity attempt it held handed to another delivery: it did not start the step. */
  ATTEMPT_SUPERSEDED: INFRASTRUCTURE,
  RUN_RECORD_UNREADABLE: TRANSIENT,
  RUN_RECORD_MISSING: TRANSIENT,
} satisfies Record<string, ErrorClass>;

export type EngineErrorCode = keyof typeof ERROR_CODES;

function classOf(code: string): ErrorClass | undefined {
  return Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as EngineErrorCode] : undefined;
}

/**
 * A Flywheel error with a stable code and how to fix it. Engine codes are classified by ERROR_CODES; a
 * step's own code is retryable unless it says `retryable: false` (bad input that retrying cannot fix).
 */
export class FlywheelError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly options: { fix?: string; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlywheelError';
  }

  get retryable(): boolean {
    return classOf(this.code)?.retryable ?? this.options.retryable ?? true;
  }

  get fix(): string | undefined {
    return this.options.fix;
  }
}

/** Bad usage of a command (the CLI's or one a pipeline declares): exit code 2 with the message and how to fix it. */
export class UsageError extends FlywheelError {
  constructor(message: string, fix: string) {
    super('USAGE', message, { fix });
    this.name = 'UsageError';
  }
}

export interface ClassifiedError {
  code: string;
  message: string;
  retryable: boolean;
  exit: 1 | 2;
  fix?: string;
  /** See ErrorClass.infrastructure. */
  infrastructure?: true;
}

/**
 * A write that found no space left on its disk (ENOSPC, or a quota: EDQUOT) as DISK_FULL, saying what to
 * free; undefined for any other error. `during` names what was being written (a download, a step's output).
 */
export function diskFullError(error: unknown, during?: string): FlywheelError | undefined {
  const errno = (error as { code?: unknown } | undefined)?.code;
  if (errno !== 'ENOSPC' && errno !== 'EDQUOT') return undefined;
  return new FlywheelError('DISK_FULL', `no space left on the disk${during === undefined ? '' : ` during ${during}`}: ${(error as Error).message}`, {
    fix: 'free space on that disk (`flywheel cache gc` for the store; FLYWHEEL_S3_CACHE_MAX_BYTES bounds an S3 store’s local copies), or move the store or FLYWHEEL_S3_LOCAL to a larger one',
    cause: error,
  });
}

/** The one reading of any thrown value: its code, whether a retry could help, and the CLI's exit code. */
export function classifyError(error: unknown): ClassifiedError {
  if (error instanceof FlywheelError) {
    const known = classOf(error.code);
    const retryable = error.retryable;
    return {
      code: error.code,
      message: error.message,
      retryable,
      exit: known?.exit ?? (retryable ? 1 : 2),
      ...(error.fix === undefined ? {} : { fix: error.fix }),
      ...(known?.infrastructure === true ? { infrastructure: true as const } : {}),
    };
  }
  // Zod's classes recognise their instances across copies of zod (a pipeline project has its own).
  if (error instanceof z.core.$ZodError) return { code: 'STEP_INVALID_DATA', message: zodIssues(error), ...ERROR_CODES.STEP_INVALID_DATA };
  const full = diskFullError(error);
  if (full !== undefined) return classifyError(full);
  const message = error instanceof Error ? error.message : `non-Error value thrown: ${String(error)}`;
  return { code: 'STEP_FAILED', message, ...ERROR_CODES.STEP_FAILED };
}

/**
 * A zod error as one line, one `path: message` per issue (at most five; paths under `prefix` when given):
 * zod's own message is a multi-line JSON dump that breaks a one-line-per-step display.
 *
 * @example
 * zodIssues(z.object({ n: z.number() }).safeParse({ n: 'x' }).error) // 'n: Invalid input: expected number, received string'
 */
export function zodIssues(error: z.core.$ZodError, prefix?: string): string {
  // An error made by another copy of zod may lack issues: its message is all there is.
  if (!Array.isArray(error.issues) || error.issues.length === 0) return error.message;
  const shown = error.issues
    .slice(0, 5)
    .map((issue) => `${[...(prefix === undefined ? [] : [prefix]), ...issue.path.map(String)].join('.') || '(root)'}: ${issue.message}`);
  const more = error.issues.length - shown.length;
  return `${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}
