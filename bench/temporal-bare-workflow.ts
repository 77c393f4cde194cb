// The baseline of bench (e): a bare Temporal workflow calling `count` trivial activities one after
// another, with none of Flywheel's cache look-ups, single-flight or records.
import { proxyActivities } from '@temporalio/workflow';

const { trivial } = proxyActivities<{ trivial(index: number): Promise<string> }>({ startToCloseTimeout: '1m' });

export async function bareChain(count: number): Promise<number> {
  let last = '';
  for (let i = 0; i < count; i++) last = await trivial(i);
  return last.length;
}
