// `npm start`: the build brought up to date (nothing to do on a built tree, see build.mjs), then the
// flagship pipeline on the embedded default, in this same process: one Node start instead of two.
import { build } from './build.mjs';

build();
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(['run', 'flow-agent', ...process.argv.slice(2)]);
