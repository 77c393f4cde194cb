// (d) Moving a 1 GiB artifact through the S3 store on a real MinIO over loopback: Flywheel's upload
// (putFile) and download (copyBlobTo on a machine without a local copy), each in a fresh process
// whose peak RSS is reported, against MinIO's own client `mc` moving the same file in the same script.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MINIO_SECRET, MINIO_USER, startMinio } from '../test/support/minio.js';
import {
  best,
  formatRatio,
  formatSamples,
  freshDir,
  heading,
  line,
  REPO_ROOT,
  runIfMain,
  runProcess,
  writeIncompressibleFile,
  type SummaryRow,
} from './lib.js';

const FILE_BYTES = 1024 ** 3;
const SAMPLES = 3;
const RSS_LIMIT_MIB = 256;
const MC_BIN = join(process.env.FLYWHEEL_TOOLS_DIR ?? join(process.env.HOME ?? '/root', '.cache', 'flywheel-tools'), 'bin', 'mc');

const gbPerSecond = (ms: number): number => FILE_BYTES / 1e9 / (ms / 1000);
const rate = (ms: number): string => `${gbPerSecond(ms).toFixed(2)} GB/s`;

/** One transfer by the built S3 store in a fresh `node` process; it reports its own time and peak RSS. */
function storeProbe(operation: 'upload' | 'push' | 'download', file: string, bucket: string, localRoot: string, digest = ''): string {
  const moduleUrl = JSON.stringify(pathToFileURL(join(REPO_ROOT, 'dist', 'cache', 's3-store.js')).href);
  return `
const { S3Store } = await import(${moduleUrl});
const store = new S3Store({ bucket: ${JSON.stringify(bucket)}, prefix: 'bench' }, { localRoot: ${JSON.stringify(localRoot)} });
const start = performance.now();
const digest = ${
    operation === 'upload'
      ? `(await store.putFile(${JSON.stringify(file)})).digest`
      : operation === 'push'
        ? `(await store.putKnownFile(${JSON.stringify(file)}, ${JSON.stringify(digest)}, ${FILE_BYTES}), ${JSON.stringify(digest)})`
        : `(await store.copyBlobTo(${JSON.stringify(digest)}, ${JSON.stringify(file)}), ${JSON.stringify(digest)})`
  };
console.log(JSON.stringify({ ms: performance.now() - start, maxRssMiB: process.resourceUsage().maxRSS / 1024, digest }));
`;
}

export async function benchS3(): Promise<SummaryRow[]> {
  heading('(d) 1 GiB artifact through the S3 store: MinIO on loopback');
  const dir = await freshDir('s3');
  const minio = await startMinio();
  try {
    const bucket = 'flywheel-bench';
    await minio.createBucket(bucket);
    const file = join(dir, 'artifact.bin');
    await writeIncompressibleFile(file, FILE_BYTES);
    await runProcess('sync', []);
    const env = { ...process.env, ...minio.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

    let rssMiB = 0;
    /** One transfer in a fresh process; its time, and its peak RSS kept. */
    const probe = async (operation: 'upload' | 'push' | 'download', path: string, localRoot: string, known = ''): Promise<{ ms: number; digest: string }> => {
      const result = JSON.parse(
        (await runProcess('node', ['--input-type=module', '-e', storeProbe(operation, path, bucket, localRoot, known)], { env })).stdout,
      ) as {
        ms: number;
        maxRssMiB: number;
        digest: string;
      };
      rssMiB = Math.max(rssMiB, result.maxRssMiB);
      return result;
    };
    // A fresh prefix per sample: the store skips blobs that are already there.
    const freshPrefix = (): Promise<void> => rm(join(minio.dataDir, bucket, 'bench'), { recursive: true, force: true });

    const uploads: number[] = [];
    const downloads: number[] = [];
    let digest = '';
    for (let i = 0; i < SAMPLES; i++) {
      await freshPrefix();
      const up = await probe('upload', file, join(dir, `local-up-${i}`));
      digest = up.digest;
      const target = join(dir, 'downloaded.bin');
      await rm(target, { force: true });
      uploads.push(up.ms);
      downloads.push((await probe('download', target, join(dir, `local-down-${i}`), digest)).ms);
      await rm(join(dir, `local-down-${i}`), { recursive: true, force: true });
    }

    // A blob whose digest is known (a local store's, pushed with `flywheel cache push`): nothing hashed whole.
    const pushes: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await freshPrefix();
      pushes.push((await probe('push', file, join(dir, `local-push-${i}`), digest)).ms);
    }

    const mcEnv = { ...process.env, MC_CONFIG_DIR: join(dir, 'mc-config') };
    await runProcess(MC_BIN, ['alias', 'set', 'bench', minio.endpoint, MINIO_USER, MINIO_SECRET], { env: mcEnv });
    const mcUploads: number[] = [];
    const mcDownloads: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      mcUploads.push((await runProcess(MC_BIN, ['cp', '--quiet', file, `bench/${bucket}/mc/artifact.bin`], { env: mcEnv })).wallMs);
      await rm(join(dir, 'mc-downloaded.bin'), { force: true });
      mcDownloads.push((await runProcess(MC_BIN, ['cp', '--quiet', `bench/${bucket}/mc/artifact.bin`, join(dir, 'mc-downloaded.bin')], { env: mcEnv })).wallMs);
    }

    line('Flywheel upload (putFile, multipart), best of 3', `${rate(best(uploads))}  ${formatSamples(uploads)}`);
    line('mc cp upload, best of 3', `${rate(best(mcUploads))}  ${formatSamples(mcUploads)}`);
    line('Flywheel push, digest known (putKnownFile), best of 3', `${rate(best(pushes))}  ${formatSamples(pushes)}`);
    line('Flywheel download (copyBlobTo, verified), best of 3', `${rate(best(downloads))}  ${formatSamples(downloads)}`);
    line('mc cp download, best of 3', `${rate(best(mcDownloads))}  ${formatSamples(mcDownloads)}`);
    line('peak RSS of a Flywheel transfer process', `${rssMiB.toFixed(0)} MiB (limit ${RSS_LIMIT_MIB} MiB)`);
    const upRatio = best(mcUploads) / best(uploads);
    const downRatio = best(mcDownloads) / best(downloads);
    const pushRatio = best(mcUploads) / best(pushes);
    line('push (digest known) throughput Flywheel / mc upload (target ≥ 1.10×)', formatRatio(pushRatio));
    line('upload throughput Flywheel / mc (target ≥ 1.20×)', formatRatio(upRatio));
    line('download throughput Flywheel / mc (target ≥ 1.00×)', formatRatio(downRatio));
    return [
      {
        bench: '(d) S3 1 GiB',
        metric: 'upload Flywheel / mc (best)',
        value: rate(best(uploads)),
        baseline: rate(best(mcUploads)),
        ratio: upRatio,
        target: '≥ 1.20×',
      },
      {
        bench: '(d) S3 1 GiB',
        metric: 'push, digest known / mc upload (best)',
        value: rate(best(pushes)),
        baseline: rate(best(mcUploads)),
        ratio: pushRatio,
        target: '≥ 1.10×',
      },
      {
        bench: '(d) S3 1 GiB',
        metric: 'download Flywheel / mc (best)',
        value: rate(best(downloads)),
        baseline: rate(best(mcDownloads)),
        ratio: downRatio,
        target: '≥ 1.00×',
      },
      { bench: '(d) S3 1 GiB', metric: 'peak RSS of the process', value: `${rssMiB.toFixed(0)} MiB`, target: `≤ ${RSS_LIMIT_MIB} MiB` },
    ];
  } finally {
    await minio.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, benchS3);
