import { setTimeout as sleep } from 'node:timers/promises';
import { diskFullError, FlywheelError } from './errors.js';

interface AwsError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestTimeout']);

function networkCode(error: unknown): string | undefined {
  for (let e = error as (AwsError & { cause?: unknown }) | undefined, depth = 0; e !== undefined && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code !== undefined && NETWORK_CODES.has(e.code)) return e.code;
    if (e.name === 'TimeoutError' || /socket hang up/i.test(e.message ?? '')) return 'ETIMEDOUT';
  }
  return undefined;
}

/** Throttling, server errors and dropped connections are worth another try; bad requests are not. */
export function isTransientS3Error(error: unknown): boolean {
  const e = error as AwsError;
  const status = e.$metadata?.httpStatusCode ?? 0;
  return networkCode(error) !== undefined || status >= 500 || status === 429 || THROTTLING.has(e.name ?? '');
}

/**
 * Retries transient failures with exponential backoff and full jitter. The SDK retries plain requests
 * itself; this covers streamed bodies (which it cannot replay) and an endpoint that is briefly down.
 */
export async function withS3Retries<T>(operation: () => Promise<T>, attempts = Number(process.env.FLYWHEEL_S3_ATTEMPTS ?? 5)): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !isTransientS3Error(error)) throw error;
      await sleep(Math.random() * Math.min(10_000, 200 * 2 ** attempt));
    }
  }
}

/** A failure as a Flywheel error naming the endpoint and bucket (never a credential) and how to fix it. */
export function describeS3Error(error: unknown, what: string, where: string): FlywheelError {
  // The local disk, not S3: a download with no room to land.
  const full = diskFullError(error, `${what} from ${where}`);
  if (full !== undefined) return full;
  const e = error as AwsError;
  const status = e.$metadata?.httpStatusCode;
  const network = networkCode(error);
  if (e.name === 'NoSuchBucket') {
    return new FlywheelError('S3_BUCKET_MISSING', `${where}: the bucket does not exist (${what})`, {
      fix: 'create the bucket or correct FLYWHEEL_STORE=s3://<bucket>/<prefix>',
      cause: error,
    });
  }
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken'].includes(e.name ?? '') || status === 403) {
    return new FlywheelError('S3_ACCESS_DENIED', `${where}: access denied (${e.name ?? `HTTP ${status}`}) for ${what}`, {
      fix: 'check the credentials in the AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE) and the bucket policy',
      cause: error,
    });
  }
  if (network !== undefined) {
    return new FlywheelError('S3_UNREACHABLE', `${where}: cannot reach the endpoint (${network}) for ${what}`, {
      fix: 'check AWS_ENDPOINT_URL and that the S3 service is up',
      cause: error,
    });
  }
  return new FlywheelError('S3_ERROR', `${where}: ${what} failed: ${e.name ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? ''}`, {
    cause: error,
  });
}
