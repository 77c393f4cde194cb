import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../../dist/ui', import.meta.url));

/**
 * dist/ui/ also holds the compiled server (dist/ui/server/, from tsc), so the build does not empty it:
 * it replaces only its own hashed assets.
 */
const replaceAssets: Plugin = {
  name: 'flywheel-replace-assets',
  apply: 'build',
  buildStart() {
    rmSync(join(outDir, 'assets'), { recursive: true, force: true });
  },
};

/**
 * The web run view: built into dist/ui/ (index.html + hashed assets under /assets/), which `flywheel ui`
 * serves. `npx vite --config ui/app/vite.config.ts` serves it for development, forwarding /api to a
 * running `flywheel ui` (FLYWHEEL_UI_API, default http://127.0.0.1:4310).
 */
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react(), replaceAssets],
  build: {
    outDir,
    emptyOutDir: false,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: { proxy: { '/api': process.env.FLYWHEEL_UI_API ?? 'http://127.0.0.1:4310' } },
});
