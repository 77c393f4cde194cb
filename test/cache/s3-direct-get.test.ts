import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Bytes } from '../../cache/digest.js';
import { directGet, DirectGetUnsupported, directTarget, signedGetHead } from '../../cache/s3-direct-get.js';
import { S3Store } from '../../cache/s3-store.js';
import { BlobUnavailableError } from '../../cache/store.js';
import { freePort, startMinio, type MinioServer } from '../support/minio.js';
import { tempDir } from '../support/temp-dir.js';

let minio: MinioServer;
const environmentBefore = { ...process.env };

beforeAll(async () => {
  minio = await startMinio();
  Object.assign(process.env, minio.env);
});

afterAll(async () => {
  await minio?.stop();
  process.env = environmentBefore;
});

interface Proxy {
  endpoint: string;
  /** The Range header of each request that went through, `whole` for none. */
  ranges: string[];
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of MinIO that can damage responses the way networks do: `cutAfter` ends the first
 * response of each distinct request after that many bytes; `flipAt` changes one byte of the stream.
 */
async function startProxy(options: { cutAfter?: number; flipAt?: number }): Promise<Proxy> {
  const upstream = new URL(minio.endpoint);
  const ranges: string[] = [];
  const server = net.createServer((client) => {
    let head = '';
    const server = net.connect(Number(upstream.port), upstream.hostname);
    let sent = 0;
    let cut = false;
    client.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n') && !head.startsWith('done')) {
        ranges.push(/\r\nrange: ([^\r]+)/i.exec(head)?.[1] ?? 'whole');
        cut = options.cutAfter !== undefined && ranges.filter((r) => r === ranges.at(-1)).length === 1;
        head = 'done';
      }
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (options.flipAt !== undefined && sent <= options.flipAt && options.flipAt < sent + chunk.length) {
        chunk = Buffer.from(chunk);
        const at = options.flipAt - sent;
        chunk[at] = (chunk[at] as number) ^ 0xff;
      }
      if (cut && sent + chunk.length > (options.cutAfter as number)) {
        client.end(chunk.subarray(0, (options.cutAfter as number) - sent));
        server.destroy();
        return;
      }
      sent += chunk.length;
      client.write(chunk);
    });
    server.on('end', () => client.end());
    server.on('error', () => client.destroy());
    client.on('error', () => server.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    ranges,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** 12 MiB whose every MiB differs, stored through the real endpoint; returns the reading store's view. */
async function storedBlob(label: string): Promise<{ digest: string; bytes: Buffer; bucket: string }> {
  const bucket = `direct-${label}-${process.pid}`;
  await minio.createBucket(bucket);
  const bytes = Buffer.concat(Array.from({ length: 12 }, (_, m) => Buffer.alloc(1024 * 1024, m * 17 + 3)));
  const file = join(await tempDir('flywheel-direct'), 'blob.bin');
  await writeFile(file, bytes);
  const writer = new S3Store({ bucket, prefix: 'p' }, { localRoot: await tempDir('flywheel-direct-local') });
  const { digest } = await writer.putFile(file);
  return { digest, bytes, bucket };
}

/** Reads a blob through `endpoint` (the proxy) with a store that has no local copy. */
async function readThrough(endpoint: string, bucket: string, digest: string): Promise<{ path: string; error?: unknown }> {
  const path = join(await tempDir('flywheel-direct-read'), 'copy.bin');
  process.env.AWS_ENDPOINT_URL = endpoint;
  try {
    const reader = new S3Store({ bucket, prefix: 'p' }, { localRoot: await tempDir('flywheel-direct-local') });
    await reader.copyBlobTo(digest as never, path);
    return { path };
  } catch (error) {
    return { path, error };
  } finally {
    process.env.AWS_ENDPOINT_URL = minio.endpoint;
  }
}

describe('direct GETs (no SDK between the socket and the hash)', () => {
  it('a connection dropped mid-body resumes at the first missing byte, and the copy verifies', async () => {
    const { digest, bytes, bucket } = await storedBlob('resume');
    const proxy = await startProxy({ cutAfter: 5 * 1024 * 1024 + 777 });
    try {
      const { path, error } = await readThrough(proxy.endpoint, bucket, digest);
      expect(error).toBeUndefined();
      expect((await readFile(path)).equals(bytes)).toBe(true);
      // The first GET was cut (head + part of the body); the second asked for the rest only.
      expect(proxy.ranges[0]).toBe('whole');
      expect(proxy.ranges[1]).toMatch(/^bytes=\d+-$/);
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(proxy.ranges[1] as string)?.[1]);
      expect(resumedAt).toBeGreaterThan(5 * 1024 * 1024 - 4096);
      expect(resumedAt).toBeLessThanOrEqual(5 * 1024 * 1024 + 777);
    } finally {
      await proxy.close();
    }
  });

  it('a byte changed on the way is reported corrupt and leaves no file', async () => {
    const { digest, bucket } = await storedBlob('flip');
    const proxy = await startProxy({ flipAt: 3 * 1024 * 1024 });
    try {
      const { path, error } = await readThrough(proxy.endpoint, bucket, digest);
      expect(error).toBeInstanceOf(BlobUnavailableError);
      expect((error as BlobUnavailableError).state).toBe('corrupt');
      expect(existsSync(path)).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('a missing object is reported missing; wrong keys are an access error naming the fix', async () => {
    const { bucket } = await storedBlob('missing');
    const absent = sha256Bytes(Buffer.from('never stored'));
    const missing = await readThrough(minio.endpoint, bucket, absent);
    expect((missing.error as BlobUnavailableError).state).toBe('missing');

    const secret = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    try {
      const denied = await readThrough(minio.endpoint, bucket, absent);
      expect((denied.error as { code: string }).code).toBe('S3_ACCESS_DENIED');
      expect((denied.error as { fix: string }).fix).toContain('AWS_SECRET_ACCESS_KEY');
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = secret;
    }
  });

  it('signs path-style requests for custom endpoints and virtual-hosted ones for AWS', () => {
    const custom = directTarget('my-bucket', 'team/cache/cas/sha256/ab/x y');
    expect(custom?.object.pathStyle).toBe(true);
    const head = signedGetHead(custom!.object, custom!.credentials, 'bytes=5-', new Date('2026-11-29T16:00:00Z'));
    expect(head.split('\r\n')[0]).toBe('GET /my-bucket/team/cache/cas/sha256/ab/x%20y HTTP/1.1');
    expect(head).toMatch(
      /authorization: AWS4-HMAC-SHA256 Credential=[^/]+\/20261129\/us-east-1\/s3\/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}/,
    );

    const endpoint = process.env.AWS_ENDPOINT_URL;
    delete process.env.AWS_ENDPOINT_URL;
    try {
      const aws = directTarget('my-bucket', 'k');
      expect(aws?.object.endpoint.host).toBe('my-bucket.s3.us-east-1.amazonaws.com');
      expect(directTarget('dotted.bucket', 'k')?.object.endpoint.host).toBe('s3.us-east-1.amazonaws.com');
    } finally {
      process.env.AWS_ENDPOINT_URL = endpoint;
    }
  });

  it('reads an error answered without a length (chunked) as the error it is, and refuses a chunked success', async () => {
    // A plain node:http server sends a body without Content-Length chunked, as some gateways do.
    const server = http.createServer((request, response) => {
      if (request.url?.includes('absent')) {
        response.writeHead(404, { 'content-type': 'application/xml' });
        response.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
      } else {
        response.writeHead(200);
        response.end('some bytes');
      }
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const target = (key: string) => {
        const found = directTarget('bucket', key);
        return { ...found!.object, endpoint: new URL(`http://127.0.0.1:${port}`) };
      };
      const credentials = directTarget('bucket', 'k')!.credentials;
      const pieces: Buffer[] = [];
      const read = (key: string) =>
        directGet(target(key), credentials, { onBytes: (b, release) => (pieces.push(Buffer.from(b)), release()), heldMaxBytes: 1 << 20 });
      await expect(read('absent')).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      await expect(read('present')).rejects.toBeInstanceOf(DirectGetUnsupported);
      expect(pieces).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('leaves the download to the SDK where the SDK would choose other keys or another endpoint', () => {
    for (const name of ['AWS_PROFILE', 'AWS_USE_FIPS_ENDPOINT']) {
      process.env[name] = name === 'AWS_PROFILE' ? 'team' : 'true';
      try {
        expect(directTarget('bucket', 'k')).toBeUndefined();
      } finally {
        delete process.env[name];
      }
    }
    expect(directTarget('bucket', 'k')).toBeDefined();
  });
});
