import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../../cache/store.js';

/**
 * A step attempt's private scratch directory, made on first use. A step with JSON ports only that never
 * reads `ctx.workDir` (a map's cheap element) then costs no directory at all: making and removing one
 * took more time than such a step's work.
 */
export class StepScratch {
  private root: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly label: string,
  ) {}

  /** The directory `name` inside the scratch (`in`, `out`, `work`), made with the scratch when first asked for. */
  dir(name: string): string {
    this.root ??= this.store.makeScratchDir(this.label);
    const dir = join(this.root, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Removes the scratch, if it was ever made. */
  async remove(): Promise<void> {
    if (this.root !== undefined) await rm(this.root, { recursive: true, force: true });
  }
}
