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

/** A profile wins over environment keys in the SDK's chain; the others change which endpoint it calls. */
const SDK_ONLY_SETTINGS = ['AWS_PROFILE', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT'];

/** A response a direct GET cannot read safely (no length, a range ignored): the SDK's path reads it instead. */
export class DirectGetUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DirectGetUnsupported';
  }
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
  // Settings under which the SDK would pick other keys or another endpoint: leave those to the SDK.
  if (SDK_ONLY_SETTINGS.some((name) => process.env[name])) return undefined;
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  if (region.startsWith('cn-')) return undefined; // another domain (amazonaws.com.cn)
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

/** Read buffers: large over plain TCP, where one read can fill them; TLS hands over at most 16 KiB a read. */
const READ_BYTES = 1024 * 1024;
const TLS_READ_BYTES = 64 * 1024;
const IDLE_TIMEOUT_MS = 60_000;
const HEAD_MAX_BYTES = 64 * 1024;
const ERROR_BODY_MAX_CHARS = 64 * 1024;

export interface DirectGetOptions {
  /** `bytes=<from>-` or `bytes=<from>-<to>`; undefined for the whole object. */
  range?: string;
  /** Told the object's full size and where this response starts, before any body byte. May throw to stop. */
  onSize?: (size: number, start: number) => void;
  /**
   * Each piece of the body as it arrives. The bytes belong to the caller until it calls `release`, and
   * reads stop while buffers of more than `heldMaxBytes` are held (so a slow disk bounds memory). May
   * throw to stop the GET (its promise rejects with that error).
   */
  onBytes: (bytes: Buffer, release: () => void) => void;
  heldMaxBytes: number;
}

/**
 * One GET of an object over a connection of its own, reading the body into reused buffers (`onread`):
 * no HTTP client, stream or per-chunk allocation between the socket and the caller, which on a loopback
 * MinIO made the difference between half and all of `mc`'s speed (bench/s3.ts). Rejects with SDK-shaped
 * errors: HTTP errors with the service's code, a connection that ended early as ECONNRESET, and
 * DirectGetUnsupported for a successful answer it cannot read safely.
 */
export function directGet(object: DirectObject, credentials: DirectCredentials, options: DirectGetOptions): Promise<void> {
  const head = signedGetHead(object, credentials, options.range);
  const secure = object.endpoint.protocol === 'https:';
  const port = Number(object.endpoint.port || (secure ? 443 : 80));
  const host = object.endpoint.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
  const readBytes = secure ? TLS_READ_BYTES : READ_BYTES;
  const spare: Buffer[] = [];
  let held = 0;
  return new Promise<void>((resolve, reject) => {
    let headText = '';
    let headDone = false;
    let status = 0;
    let remaining = -1;
    let errorBody: string | undefined;
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve();
    };
    const pause = (): void => {
      socket.pause();
      socket.setTimeout(0); // waiting for the disk is not the server's silence
    };
    const resume = (): void => {
      socket.setTimeout(IDLE_TIMEOUT_MS);
      socket.resume();
    };
    const release = (buffer: Buffer): void => {
      spare.push(buffer);
      held -= buffer.length;
      if (held <= options.heldMaxBytes && socket.isPaused() && !settled) resume();
    };
    const body = (buffer: Buffer, from: number, to: number): void => {
      if (errorBody !== undefined) {
        if (errorBody.length < ERROR_BODY_MAX_CHARS) errorBody += buffer.toString('utf8', from, to);
        spare.push(buffer);
        remaining -= to - from;
        if (remaining <= 0) finish(httpError(status, errorBody));
        return;
      }
      const end = Math.min(to, from + remaining); // bytes past the announced length are not the object's
      remaining -= end - from;
      held += buffer.length;
      options.onBytes(buffer.subarray(from, end), () => release(buffer));
      if (remaining <= 0) finish();
      else if (held > options.heldMaxBytes) pause();
    };
    const readHead = (n: number, buffer: Buffer): void => {
      headText += buffer.toString('latin1', 0, n);
      const end = headText.indexOf('\r\n\r\n');
      if (end < 0) {
        spare.push(buffer);
        if (headText.length > HEAD_MAX_BYTES) finish(Object.assign(new Error('S3 response head too large'), { code: 'ECONNRESET' }));
        return;
      }
      headDone = true;
      const lines = headText.slice(0, end).split('\r\n');
      status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const header = (name: string): string | undefined =>
        lines
          .find((l) => l.toLowerCase().startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      const length = header('content-length');
      const ok = status === 200 || status === 206;
      if (!ok) {
        // An error: its body names it (read to the end of the connection when it has no length).
        errorBody = '';
        remaining = length === undefined ? Number.POSITIVE_INFINITY : Number(length);
      } else if (length === undefined || header('transfer-encoding') !== undefined || (options.range !== undefined && status === 200)) {
        return finish(new DirectGetUnsupported(`${object.endpoint.host} answered GET without a length or ignoring its range (HTTP ${status})`));
      } else {
        remaining = Number(length);
        const range = /bytes (\d+)-\d+\/(\d+)$/.exec(header('content-range') ?? '');
        options.onSize?.(status === 206 ? Number(range?.[2]) : remaining, status === 206 ? Number(range?.[1]) : 0);
      }
      const bodyStart = n - (headText.length - (end + 4));
      if (bodyStart < n) body(buffer, bodyStart, n);
      else {
        spare.push(buffer);
        if (remaining === 0) finish(errorBody === undefined ? undefined : httpError(status, errorBody));
      }
    };
    const onread = {
      buffer: (): Buffer => spare.pop() ?? Buffer.allocUnsafe(readBytes),
      callback: (n: number, buffer: Buffer): boolean => {
        if (settled) return false;
        try {
          if (headDone) body(buffer, 0, n);
          else readHead(n, buffer);
        } catch (error) {
          finish(error); // thrown by the caller's onSize or onBytes: stop here, never as an uncaught exception
        }
        return true;
      },
    };
    // `onread` works on TLS sockets too (they are net sockets underneath); Node's types only list it for net.
    const connection = { host, port, onread };
    const socket = secure ? tls.connect({ ...connection, ...(net.isIP(host) === 0 ? { servername: host } : {}) }) : net.connect(connection);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => finish(Object.assign(new Error(`no bytes from ${object.endpoint.host} for 60 s`), { code: 'ETIMEDOUT' })));
    socket.once(secure ? 'secureConnect' : 'connect', () => socket.write(head));
    socket.on('error', (error) => finish(error));
    socket.on('end', () => {
      if (errorBody !== undefined) finish(httpError(status, errorBody));
      else finish(Object.assign(new Error(`connection to ${object.endpoint.host} ended before the whole body came`), { code: 'ECONNRESET' }));
    });
  });
}
