import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileWhole, canonicalJson } from 'flywheel';

/**
 * Remembers each LLM answer by the hash of what determines it (writer, prompt version, temperature,
 * workflow), across runs: when ten workflows are added, only ten calls are made. Files are written
 * whole (temp + rename), so a killed run never leaves a torn answer.
 */
export class LlmMemo {
  constructor(readonly directory = process.env.FLYWHEEL_LLM_MEMO_DIR ?? join(homedir(), '.cache', 'flywheel', 'llm-memo')) {}

  key(parts: Record<string, unknown>): string {
    return createHash('sha256').update(canonicalJson(parts)).digest('hex');
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const entry = JSON.parse(await readFile(this.path(key), 'utf8')) as { key?: string; value?: unknown };
      return entry.key === key && typeof entry.value === 'string' ? entry.value : undefined;
    } catch {
      return undefined;
    }
  }

  async put(key: string, value: string): Promise<void> {
    const path = this.path(key);
    await mkdir(join(this.directory, key.slice(0, 2)), { recursive: true });
    await writeFileWhole(path, JSON.stringify({ key, value }));
  }

  private path(key: string): string {
    return join(this.directory, key.slice(0, 2), `${key}.json`);
  }
}
