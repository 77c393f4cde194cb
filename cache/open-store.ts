import { resolve } from 'node:path';
import { FlywheelError } from './errors.js';
import { LayeredStore } from './layered-store.js';
import { LocalStore } from './local-store.js';
import { parseS3Location } from './s3-client.js';
import { S3Store } from './s3-store.js';
import type { Store } from './store.js';

/**
 * Opens the store named by `location`, else `FLYWHEEL_STORE`, else `.flywheel/` in the working directory.
 * A plain path is a local store; `s3://bucket/prefix` selects the shared S3 store.
 *
 * @example
 * const store = openStore();                 // ./.flywheel, or $FLYWHEEL_STORE
 * const shared = openStore('/mnt/team/flywheel-cache');
 */
export function openStore(location = process.env.FLYWHEEL_STORE, cwd = process.cwd(), options: { readOnly?: boolean } = {}): Store {
  const where = storeLocation(location, cwd);
  if (/^s3:\/\//i.test(where)) {
    try {
      return new S3Store(parseS3Location(where));
    } catch (error) {
      throw new FlywheelError('STORE_INVALID', `FLYWHEEL_STORE=${where}: ${(error as Error).message}`, { fix: 'write s3://<bucket>/<prefix>' });
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where)) {
    throw new FlywheelError('STORE_UNSUPPORTED', `FLYWHEEL_STORE=${where}: unknown store scheme`, { fix: 'use a local path or s3://bucket/prefix' });
  }
  return new LocalStore(where, options);
}

/**
 * The store a run writes, with read-only layers under it: `readFrom` (FLYWHEEL_READ_FROM) lists store
 * locations separated by commas, looked in, in order, after the run's own (see LayeredStore). Without
 * layers, the plain store.
 *
 * @example
 * // a laptop: its own local cache, reusing what CI stored on S3 without being able to write there
 * // FLYWHEEL_STORE=.flywheel FLYWHEEL_READ_FROM=s3://ml-cache/main
 * const store = openRunStore();
 */
export function openRunStore(location = process.env.FLYWHEEL_STORE, readFrom = process.env.FLYWHEEL_READ_FROM, cwd = process.cwd()): Store {
  const own = openStore(location, cwd);
  const layers = readLocations(readFrom, cwd);
  if (layers.length === 0) return own;
  const written = storeLocation(location, cwd);
  for (const layer of layers) {
    if (layer === written)
      throw new FlywheelError('STORE_INVALID', `FLYWHEEL_READ_FROM names ${layer}, the store this run writes`, {
        fix: 'list only stores to read from; the run reads its own store first anyway',
      });
  }
  return new LayeredStore(
    own,
    layers.map((layer) => openStore(layer, cwd, { readOnly: true })),
  );
}

/** The read-only layers `readFrom` names, as absolute locations (another process opens the same ones). */
export function readLocations(readFrom = process.env.FLYWHEEL_READ_FROM, cwd = process.cwd()): string[] {
  const listed = (readFrom ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return [...new Set(listed.map((l) => storeLocation(l, cwd)))];
}

/** The store a location names, written so another process (a Temporal worker) opens the same one: absolute paths, URLs as given. */
export function storeLocation(location = process.env.FLYWHEEL_STORE, cwd = process.cwd()): string {
  const where = location === undefined || location === '' ? '.flywheel' : location;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(where) ? where : resolve(cwd, where);
}
