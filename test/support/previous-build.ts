import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './cli.js';

const run = promisify(execFile);

/** A build of an earlier commit of this repository, in a git worktree of its own. */
export interface PreviousBuild {
  commit: string;
  /** Its `bin/flywheel.js`: its CLI and its workers. */
  bin: string;
  remove(): Promise<void>;
}

/**
 * Checks out `commit` beside this tree (sharing node_modules: the lockfile must not have changed since)
 * and builds it with its own build script, for tests of what happens when workers of that version meet
 * this one. The commit must be in this clone's history (CI clones it whole).
 */
export async function buildPrevious(commit: string): Promise<PreviousBuild> {
  // Not a per-test temp dir (those go after each test): the build serves a whole suite, until `remove`.
  const root = await mkdtemp(join(tmpdir(), 'flywheel-previous-'));
  const tree = join(root, 'tree');
  try {
    await run('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: REPO });
  } catch {
    throw new Error(`commit ${commit} is not in this clone's history: clone the repository whole (not shallow) to run the upgrade test`);
  }
  await run('git', ['worktree', 'add', '--detach', tree, commit], { cwd: REPO });
  const remove = async (): Promise<void> => {
    await run('git', ['worktree', 'remove', '--force', tree], { cwd: REPO }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };
  try {
    await symlink(join(REPO, 'node_modules'), join(tree, 'node_modules'), 'dir');
    await run(process.execPath, [join(tree, 'scripts', 'build.mjs')], { cwd: tree, maxBuffer: 16 << 20 });
  } catch (error) {
    await remove();
    throw error;
  }
  return { commit, bin: join(tree, 'bin', 'flywheel.js'), remove };
}
