import { definePipeline } from 'flywheel';
import { link, report, score, source, train } from './soak-steps.js';

/**
 * The chaos soak's pipeline: a source with a large output, a chain of three links over it, a 200-element
 * map whose always-failing elements stay under minSuccessRatio, a checkpointing GPU step, and a fan-in.
 * `--set variant=<n>` (every step's `variant`) makes runs that share most elements and differ in the rest.
 */
export default definePipeline({
  name: 'soak',
  build(p) {
    const from = p.add(source, { id: 'source', config: { variant: 0 } });
    let chain = from.out.large;
    for (const stage of [1, 2, 3]) chain = p.add(link, { id: `link-${stage}`, config: { variant: 0, stage }, inputs: { in: chain } }).out.out;
    const scores = p.map(score, { id: 'score', over: { item: from.out.items }, minSuccessRatio: 0.95 });
    const model = p.add(train, { id: 'train', config: { variant: 0 }, inputs: { data: chain } });
    p.add(report, { id: 'report', config: { variant: 0 }, inputs: { model: model.out.model, scores: scores.out.scored, chain } });
  },
});
