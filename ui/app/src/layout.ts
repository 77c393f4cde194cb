import dagre from '@dagrejs/dagre';
import type { StepRunRecord } from './api';

export const NODE_WIDTH = 300;
export const NODE_HEIGHT = 96;

export interface Placed {
  id: string;
  x: number;
  y: number;
}

export interface Edge {
  from: string;
  to: string;
  points: Array<{ x: number; y: number }>;
}

export interface Layout {
  nodes: Map<string, Placed>;
  edges: Edge[];
  width: number;
  height: number;
}

/** Lays the run's DAG out top to bottom with dagre: node centres and edge routes, in SVG units. */
export function layoutDag(steps: readonly Pick<StepRunRecord, 'id' | 'upstream'>[]): Layout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 48, marginx: 16, marginy: 16 });
  graph.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map((s) => s.id));
  for (const step of steps) graph.setNode(step.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const step of steps) for (const from of step.upstream ?? []) if (ids.has(from) && from !== step.id) graph.setEdge(from, step.id);
  dagre.layout(graph);
  const nodes = new Map<string, Placed>();
  for (const id of graph.nodes()) {
    const n = graph.node(id);
    nodes.set(id, { id, x: n.x, y: n.y });
  }
  const edges = graph.edges().map((e) => ({ from: e.v, to: e.w, points: graph.edge(e).points ?? [] }));
  const size = graph.graph();
  return { nodes, edges, width: size.width ?? NODE_WIDTH, height: size.height ?? NODE_HEIGHT };
}
