import { definePipeline } from 'flywheel';
import { shoutAll, source } from './map-steps.js';

/** Bench (f)'s baseline: the same operations as one plain step, one cache entry for all of them. */
export default definePipeline({
  name: 'bench-map-baseline',
  build(p) {
    const src = p.add(source, { id: 'source' });
    p.add(shoutAll, { id: 'shout', inputs: { items: src.out.items } });
  },
});
