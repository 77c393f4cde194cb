#!/usr/bin/env node
// No cycle between folders: `node scripts/lint/folder-cycles.js [root]` (part of `npm run lint`) reads
// every module's run-time imports (static, re-exports and `import()`; `import type` is erased and does
// not count), draws an edge from the importing file's folder to the imported file's, and fails naming
// each cycle with the imports that make it. The layers rule keeps the top-level folders apart; this
// keeps the folders inside them (engine/keys, engine/map, ...) apart too.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SOURCE = ['index.ts', 'cache', 'engine', 'cli', 'ui', 'workflows', 'activities', 'workers', 'steps', 'pipelines'];
const SKIP = new Set(['node_modules', 'dist', '.flywheel']);

function sourceFiles(root, path) {
  const full = join(root, path);
  let stat;
  try {
    stat = statSync(full);
  } catch {
    return [];
  }
  if (stat.isFile()) return /\.(ts|tsx|mts)$/.test(path) && !path.endsWith('.d.ts') ? [path] : [];
  return readdirSync(full)
    .filter((name) => !SKIP.has(name))
    .sort()
    .flatMap((name) => sourceFiles(root, join(path, name)));
}

// Only `import type` / `export type` are erased: with verbatimModuleSyntax `import { type A }` still loads its module.
const typeOnlyImport = (node) => node.importClause?.isTypeOnly === true;
const typeOnlyExport = (node) => node.isTypeOnly;

/** The relative specifiers a module loads at run time. */
function runtimeImports(text, path) {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false, path.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && !typeOnlyImport(node) && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    else if (ts.isExportDeclaration(node) && !typeOnlyExport(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier))
      found.push(node.moduleSpecifier.text);
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    )
      found.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((s) => s.startsWith('.'));
}

const slash = (p) => p.split(sep).join('/');

/** Folder → folder edges, each with one import that makes it (`from → to`). */
export function folderGraph(root) {
  const edges = new Map();
  for (const file of SOURCE.flatMap((p) => sourceFiles(root, p))) {
    const from = slash(dirname(file));
    for (const specifier of runtimeImports(readFileSync(join(root, file), 'utf8'), file)) {
      const written = resolve(root, dirname(file), specifier);
      // `./x.js` names the source `./x.ts` (or .tsx): name the file that is there.
      const source = ['.ts', '.tsx'].map((ext) => written.replace(/\.js$/, ext)).find((p) => p !== written && existsSync(p));
      const target = slash(relative(root, source ?? written));
      const to = slash(dirname(target));
      if (to === from || target.startsWith('..')) continue;
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from).has(to)) edges.get(from).set(to, `${slash(file)} → ${target}`);
    }
  }
  return edges;
}

/** Every cycle's folders (strongly connected components of more than one folder), Tarjan's way. */
export function folderCycles(edges) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  const connect = (v) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v);
  return cycles;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
  const edges = folderGraph(root);
  const cycles = folderCycles(edges);
  for (const cycle of cycles) {
    const members = new Set(cycle);
    const lines = cycle.flatMap((from) => [...(edges.get(from) ?? [])].filter(([to]) => members.has(to)).map(([to, via]) => `    ${from} → ${to}: ${via}`));
    process.stderr.write(`error: folders import each other at run time: ${cycle.join(', ')}\n${lines.join('\n')}\n`);
  }
  if (cycles.length > 0) {
    process.stderr.write('  fix: move the shared piece into a folder both import, or import it with `import type` (docs/architecture.md, "Layers")\n');
    process.exit(1);
  }
  process.stdout.write(`folder cycles: none among ${new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])]).size} folders\n`);
}
