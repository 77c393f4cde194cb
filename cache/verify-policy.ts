import { FlywheelError } from './errors.js';

/**
 * How much a cache hit re-checks of its blobs (`FLYWHEEL_VERIFY`):
 * - `stamps` (default): a blob whose file is unchanged since the store last hashed it (same size,
 *   mtime and ctime in nanoseconds, inode, device) is trusted; any change means a re-hash. On S3, the
 *   SHA-256 the bucket checked on upload stands in for the stamp.
 * - `always`: every hit re-hashes every blob it names (S3: downloads it), whatever its stamp says.
 * `flywheel cache verify` hashes everything either way.
 */
export type VerifyPolicy = 'stamps' | 'always';

let toldOfOldThreshold = false;

export function verifyPolicy(value = process.env.FLYWHEEL_VERIFY): VerifyPolicy {
  if (process.env.FLYWHEEL_HIT_VERIFY_MAX_BYTES !== undefined && !toldOfOldThreshold) {
    toldOfOldThreshold = true;
    process.stderr.write(
      'flywheel: FLYWHEEL_HIT_VERIFY_MAX_BYTES is no longer read (hits trust unchanged stamps); FLYWHEEL_VERIFY=always re-hashes every hit\n',
    );
  }
  if (value === undefined || value === '' || value === 'stamps') return 'stamps';
  if (value === 'always') return 'always';
  throw new FlywheelError('ENV_INVALID', `FLYWHEEL_VERIFY=${JSON.stringify(value)} is not a verification mode`, {
    fix: 'set FLYWHEEL_VERIFY to `stamps` (the default: re-hash a blob only when its file changed) or `always` (re-hash every blob on every hit)',
  });
}
