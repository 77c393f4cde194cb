/** Leaf paths of a JSON value (`a.b[2].c` → its JSON text). */
function flatten(value: unknown, path: string, into: Map<string, string>): Map<string, string> {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [`[${i}]`, v] as const)
      : Object.entries(value).map(([k, v]) => [path === '' ? k : `.${k}`, v] as const);
    if (entries.length === 0) into.set(path, JSON.stringify(value));
    for (const [key, v] of entries) flatten(v, `${path}${key}`, into);
  } else {
    into.set(path, JSON.stringify(value));
  }
  return into;
}

export interface ConfigChange {
  path: string;
  a: string | null;
  b: string | null;
}

/** The leaves that differ between two configs, by path. */
export function diffConfig(a: unknown, b: unknown): ConfigChange[] {
  const left = flatten(a, '', new Map());
  const right = flatten(b, '', new Map());
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort();
  return paths
    .filter((p) => left.get(p) !== right.get(p))
    .map((p) => ({ path: p === '' ? '(whole config)' : p, a: left.get(p) ?? null, b: right.get(p) ?? null }));
}
