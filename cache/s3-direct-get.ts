import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/** What a direct GET needs to reach and sign for an object. */
export interface DirectObject {
  endpoint: URL;
  /** Path style (`<endpoint>/<bucket>/<key>`, for custom endpoints such as MinIO) or virtual-hosted. */
  pathStyle: boolean;
  bucket: string;
  key: string;
  region: string;
}

export interface DirectCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * The S3 endpoint and credentials a direct GET can use without the AWS SDK: a custom endpoint from
 * AWS_ENDPOINT_URL(_S3) (path style, as createS3Client uses it) or AWS's regional one, and keys from the
 * environment (the first link of the standard chain). Undefined when the keys come from elsewhere.
 */
export function directTarget(bucket: string, key: string): { object: DirectObject; credentials: DirectCredentials } | undefined {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const custom = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  // A bucket name with dots does not match AWS's wildcard certificate as a host name: path style then.
  const pathStyle = custom !== undefined || bucket.includes('.');
  const endpoint = new URL(custom ?? (pathStyle ? `https://s3.${region}.amazonaws.com` : `https://${bucket}.s3.${region}.amazonaws.com`));
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  return { object: { endpoint, pathStyle, bucket, key, region }, credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } };
}

/** RFC 3986 encoding of one path segment, as SigV4 wants it. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function objectPath(object: DirectObject): string {
  const base = object.endpoint.pathname.replace(/\/+$/, '');
  const segments = [...(object.pathStyle ? [object.bucket] : []), ...object.key.split('/')];
  return `${base}/${segments.map(encodeSegment).join('/')}`;
}

const hmac = (key: string | Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();

/** The request head of a GET signed with AWS Signature Version 4 (the body is empty; the payload unsigned). */
export function signedGetHead(object: DirectObject, credentials: DirectCredentials, range: string | undefined, now = new Date()): string {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, ''); // 20261129T160000Z
  const day = amzDate.slice(0, 8);
  const path = objectPath(object);
  const headers: Record<string, string> = {
    host: object.endpoint.host,
    ...(range === undefined ? {} : { range }),
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-amz-date': amzDate,
    ...(credentials.sessionToken === undefined ? {} : { 'x-amz-security-token': credentials.sessionToken }),
  };
  const names = Object.keys(headers).sort();
  const canonical = ['GET', path, '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${day}/${object.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), object.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  const authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  const lines = [`GET ${path} HTTP/1.1`, ...names.map((n) => `${n}: ${headers[n]}`), `authorization: ${authorization}`, 'connection: close'];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** An error shaped like the SDK's, so withS3Retries and describeS3Error read it the same way. */
function httpError(status: number, body: string): Error {
  const code = /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? (status === 404 ? 'NoSuchKey' : `HTTP${status}`);
  const message = /<Message>([^<]+)<\/Message>/.exec(body)?.[1] ?? `HTTP ${status}`;
  return Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: status } });
}

const READ_BYTES = 1024 * 1024;
const IDLE_TIMEOUT_MS = 60_000;
const HEAD_MAX_BYTES = 64 * 1024;

export interface DirectGetOptions {
  /** `bytes=<from>-` or `bytes=<from>-<to>`; undefined for the whole object. */
  range?: string;
  /** Told the object's full size (from Content-Length or Content-Range) before any body byte. */
  onSize?: (size: number) => void;
  /**
   * Each piece of the body as it arrives. The bytes belong to the caller until it calls `release`, and
   * reads stop while more than `heldMaxBytes` are held (so a slow disk bounds memory).
   */
  onBytes: (bytes: Buffer, release: () => void) => void;
  heldMaxBytes: number;
}

/**
 * One GET of an object over a connection of its own, reading the body into reused 1 MiB buffers
 * (`onread`): no HTTP client, stream or per-chunk allocation between the socket and the caller, which
 * on a loopback MinIO made the difference between half and all of `mc`'s speed (bench/s3.ts). Rejects
 * with SDK-shaped errors: HTTP errors with the service's code, a connection that ended early as ECONNRESET.
 */
export function directGet(object: DirectObject, credentials: DirectCredentials, options: DirectGetOptions): Promise<void> {
  const head = signedGetHead(object, credentials, options.range);
  const secure = object.endpoint.protocol === 'https:';
  const port = Number(object.endpoint.port || (secure ? 443 : 80));
  const spare: Buffer[] = [];
  let held = 0;
  return new Promise<void>((resolve, reject) => {
    let headText = '';
    let status = 0;
    let remaining = -1;
    let errorBody: string | undefined;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const release = (buffer: Buffer, bytes: number): void => {
      spare.push(buffer);
      held -= bytes;
      if (held <= options.heldMaxBytes && socket.isPaused()) socket.resume();
    };
    const body = (buffer: Buffer, from: number, to: number): void => {
      const bytes = to - from;
      remaining -= bytes;
      if (errorBody !== undefined) {
        errorBody += buffer.toString('utf8', from, to);
        spare.push(buffer);
      } else {
        held += bytes;
        options.onBytes(buffer.subarray(from, to), () => release(buffer, bytes));
        if (held > options.heldMaxBytes) socket.pause();
      }
      if (remaining <= 0) finish(errorBody === undefined ? undefined : httpError(status, errorBody));
    };
    const onread = {
      buffer: (): Buffer => spare.pop() ?? Buffer.allocUnsafe(READ_BYTES),
      callback: (n: number, buffer: Buffer): boolean => {
        if (settled) return false;
        if (status === 0) {
          headText += buffer.toString('latin1', 0, n);
          const end = headText.indexOf('\r\n\r\n');
          if (end < 0) {
            spare.push(buffer);
            if (headText.length > HEAD_MAX_BYTES) finish(Object.assign(new Error('S3 response head too large'), { code: 'ECONNRESET' }));
            return true;
          }
          const lines = headText.slice(0, end).split('\r\n');
          status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
          const header = (name: string): string | undefined =>
            lines
              .find((l) => l.toLowerCase().startsWith(`${name}:`))
              ?.slice(name.length + 1)
              .trim();
          remaining = Number(header('content-length') ?? 0);
          // A server that sends no length, or ignores the range asked for, cannot be read safely this way.
          const unusable = header('transfer-encoding') !== undefined || (options.range !== undefined && status === 200);
          if (unusable) {
            finish(Object.assign(new Error(`unexpected response from ${object.endpoint.host} (HTTP ${status})`), { code: 'ECONNRESET' }));
            return false;
          }
          if (status === 200 || status === 206) {
            const total = status === 206 ? Number(/\/(\d+)$/.exec(header('content-range') ?? '')?.[1]) : remaining;
            options.onSize?.(total);
          } else errorBody = '';
          const bodyStart = n - (headText.length - (end + 4));
          if (bodyStart < n) body(buffer, bodyStart, n);
          else {
            spare.push(buffer);
            if (remaining === 0) finish(errorBody === undefined ? undefined : httpError(status, errorBody));
          }
          return true;
        }
        body(buffer, 0, n);
        return true;
      },
    };
    const connectOptions = { host: object.endpoint.hostname, port, onread };
    const socket = secure ? tls.connect({ ...connectOptions, servername: object.endpoint.hostname }) : net.connect(connectOptions);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => finish(Object.assign(new Error(`no bytes from ${object.endpoint.host} for 60 s`), { code: 'ETIMEDOUT' })));
    socket.once(secure ? 'secureConnect' : 'connect', () => socket.write(head));
    socket.on('error', (error) => finish(error));
    socket.on('end', () => {
      if (errorBody !== undefined) finish(httpError(status, errorBody));
      else finish(Object.assign(new Error(`connection to ${object.endpoint.host} ended before the whole body came`), { code: 'ECONNRESET' }));
    });
  });
}
