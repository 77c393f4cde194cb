import type { S3Client } from '@aws-sdk/client-s3';
import { FlywheelError, createS3Client, describeS3Error, loadS3Sdk, parseS3Location, withS3Retries, type S3Location, type Sdk } from 'flywheel';

async function connect(url: string): Promise<{ sdk: Sdk; client: S3Client; location: S3Location }> {
  let location: S3Location;
  try {
    location = parseS3Location(url);
  } catch (error) {
    throw new FlywheelError('SOURCE_INVALID', (error as Error).message, { retryable: false, fix: 'write s3://<bucket>/<prefix>' });
  }
  const sdk = await loadS3Sdk();
  return { sdk, client: createS3Client(sdk), location };
}

/** The .jsonl objects under an S3 prefix, in key order, with their ETags (what changes when their bytes do). */
export async function listS3Jsonl(url: string): Promise<Array<{ key: string; etag: string; size: number }>> {
  const { sdk, client, location } = await connect(url);
  const objects: Array<{ key: string; etag: string; size: number }> = [];
  let token: string | undefined;
  try {
    do {
      const page = await withS3Retries(() =>
        client.send(
          new sdk.ListObjectsV2Command({
            Bucket: location.bucket,
            Prefix: location.prefix === '' ? undefined : `${location.prefix}/`,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of page.Contents ?? []) if (o.Key?.endsWith('.jsonl')) objects.push({ key: o.Key, etag: o.ETag ?? '', size: o.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  } catch (error) {
    throw describeS3Error(error, `listing ${url}`, url);
  } finally {
    client.destroy();
  }
  if (objects.length === 0)
    throw new FlywheelError('SOURCE_NOT_FOUND', `no .jsonl objects under ${url}`, { retryable: false, fix: 'check the bucket and prefix of the source' });
  return objects.sort((a, b) => a.key.localeCompare(b.key));
}

/** The concatenated bytes of every .jsonl object under the prefix, in key order. */
export async function readS3Jsonl(url: string): Promise<Buffer> {
  const objects = await listS3Jsonl(url);
  const { sdk, client, location } = await connect(url);
  try {
    const parts = await Promise.all(
      objects.map(async (o) => {
        const response = await withS3Retries(() => client.send(new sdk.GetObjectCommand({ Bucket: location.bucket, Key: o.key })));
        const text = (await response.Body?.transformToString('utf8')) ?? '';
        return text.endsWith('\n') || text === '' ? text : `${text}\n`;
      }),
    );
    return Buffer.from(parts.join(''));
  } catch (error) {
    throw describeS3Error(error, `reading ${url}`, url);
  } finally {
    client.destroy();
  }
}
