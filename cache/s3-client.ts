import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

export type Sdk = typeof S3Sdk;

/** The AWS SDK, loaded on first use: a command that never touches S3 never pays for it. */
export function loadS3Sdk(): Promise<Sdk> {
  // The pinned SDK supports Node 20; its notice about future releases would print on every command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return import('@aws-sdk/client-s3');
}

/**
 * An S3 client configured from the environment (the standard AWS chain; AWS_ENDPOINT_URL(_S3) for
 * MinIO and other services, with path-style addressing).
 */
export function createS3Client(sdk: Sdk): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new sdk.S3Client({
    forcePathStyle: endpoint !== undefined,
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    maxAttempts: 6, // the SDK's standard strategy: exponential backoff with jitter on throttling, 5xx and resets
    // Integrity is ours: every upload carries its SHA-256 and every download is hashed. The SDK's
    // default CRC32 on every body would only add a slower second checksum.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slash; may be empty. */
  prefix: string;
}

/** Parses `s3://bucket/some/prefix`. */
export function parseS3Location(url: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match) throw new Error(`${url} is not s3://<bucket>/<prefix> with a valid bucket name`);
  return { bucket: match[1] as string, prefix: (match[2] ?? '').replace(/^\/+|\/+$/g, '') };
}
