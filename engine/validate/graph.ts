/** Kahn's algorithm over node ids; deterministic: ties keep declaration order. */
export function topologicalOrder(ids: readonly string[], upstreamOf: (id: string) => readonly string[]): { order: string[]; cycles: string[][] } {
  const indegree = new Map<string, number>();
  const downstream = new Map<string, string[]>();
  for (const id of ids) {
    indegree.set(id, 0);
    downstream.set(id, []);
  }
  for (const id of ids) {
    for (const up of new Set(upstreamOf(id))) {
      if (!indegree.has(up)) continue; // unknown upstreams are reported elsewhere
      indegree.set(id, (indegree.get(id) ?? 0) + 1);
      downstream.get(up)?.push(id);
    }
  }
  const ready = ids.filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i] as string;
    order.push(id);
    for (const next of downstream.get(id) ?? []) {
      const left = (indegree.get(next) ?? 0) - 1;
      indegree.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  const cycles =
    order.length === ids.length
      ? []
      : findCycles(
          ids.filter((id) => !order.includes(id)),
          upstreamOf,
        );
  return { order, cycles };
}

/** One representative cycle per strongly connected group of the nodes left over by Kahn's algorithm. */
function findCycles(remaining: readonly string[], upstreamOf: (id: string) => readonly string[]): string[][] {
  const left = new Set(remaining);
  const cycles: string[][] = [];
  const reported = new Set<string>();
  for (const start of remaining) {
    if (reported.has(start)) continue;
    // Walk upstream inside the leftover set until a node repeats: that loop is a cycle.
    const path: string[] = [];
    const position = new Map<string, number>();
    let current: string | undefined = start;
    while (current !== undefined && !position.has(current)) {
      position.set(current, path.length);
      path.push(current);
      current = upstreamOf(current).find((up) => left.has(up));
    }
    if (current === undefined) continue;
    const loop = path.slice(position.get(current)).reverse(); // upstream → downstream
    // Start the printed cycle at the step declared first, so the message is stable.
    const first = loop.reduce((best, id, i) => (remaining.indexOf(id) < remaining.indexOf(loop[best] as string) ? i : best), 0);
    const cycle = [...loop.slice(first), ...loop.slice(0, first)];
    if (cycle.some((id) => reported.has(id))) continue;
    for (const id of cycle) reported.add(id);
    cycles.push([...cycle, cycle[0] as string]);
  }
  return cycles;
}
