import { definePipeline } from 'flywheel';
import { shoutOne, source } from './map-steps.js';

/** Bench (f): the map, one cache entry per element. */
export default definePipeline({
  name: 'bench-map',
  build(p) {
    const src = p.add(source, { id: 'source' });
    p.map(shoutOne, { id: 'shout', over: { item: src.out.items } });
  },
});
