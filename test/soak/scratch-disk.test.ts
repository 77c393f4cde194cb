import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScratchDisk } from '../../bench/soak/scratch-disk.js';
import { tempDir } from '../support/temp-dir.js';

describe("the soak's scratch disk", () => {
  it('fails every write with ENOSPC while filled and takes writes again once freed (or says why it has no quota)', async () => {
    const disk = await ScratchDisk.mount(join(await tempDir('flywheel-scratch-disk'), 'disk'), 4 << 20);
    try {
      if (!disk.quota) {
        // Without CAP_SYS_ADMIN the soak leaves the fault out and reports this reason.
        expect(disk.why).toMatch(/CAP_SYS_ADMIN/);
        return;
      }
      await writeFile(join(disk.path, 'before'), 'fits');
      const filled = disk.fill();
      expect(filled).toBeGreaterThan(3 << 20);
      await expect(writeFile(join(disk.path, 'output.bin'), Buffer.alloc(64 << 10))).rejects.toMatchObject({ code: 'ENOSPC' });
      disk.free();
      await writeFile(join(disk.path, 'output.bin'), Buffer.alloc(64 << 10));
    } finally {
      await disk.unmount();
    }
  });
});
