import type * as TS from 'typescript';

// What each top-level statement of a module declares, refers to and does, read from its syntax tree
// when a pipeline is compiled: what a step's code fingerprint follows to the code that step can reach
// (see engine/code/code-fingerprint.ts), so editing one step leaves its neighbours in the same file alone.

/** One top-level statement. Names are as written; `from` names a module by the specifier its source uses. */
export interface StatementFacts {
  /** The statement's text, from its first token (comments before it are not part of it). */
  start: number;
  end: number;
  /** Top-level names it binds (`default` for an `export default` expression). */
  declares: string[];
  /** Names it uses that could be top-level ones or imports (property names and labels are not). */
  refs: string[];
  /** It runs for its effect when the module loads (a call, an assignment, a loop): it counts for every step reaching the module. */
  effect: boolean;
  /** Modules it loads whole (`import()`, `require()`), by specifier. */
  loads: string[];
  /** It runs code when the module loads, so a step may be defined in it: the compiler marks where it starts. */
  runs: boolean;
}

export interface ModuleFacts {
  statements: StatementFacts[];
  /** Local name → the module (specifier) and exported name it is imported as (`*`: the whole namespace). */
  bindings: Record<string, { from: string; name: string }>;
  /** Exported name → the local name it exports, or the module and name it re-exports. */
  exports: Record<string, { local: string } | { from: string; name: string }>;
  /** `export * from` specifiers. */
  stars: string[];
  /** `import 'x'` specifiers: modules loaded for their effect. */
  effects: string[];
}

const isStringLike = (ts: typeof TS, node: TS.Node): node is TS.StringLiteralLike => ts.isStringLiteralLike(node);

/** The names a binding pattern (`const { a, b: [c] } = ...`) binds. */
function boundNames(ts: typeof TS, name: TS.BindingName, out: string[]): void {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const element of name.elements) if (!ts.isOmittedExpression(element)) boundNames(ts, element.name, out);
}

function hasModifier(ts: typeof TS, node: TS.Node, kind: TS.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

/** Identifiers used in an expression or declaration, and modules it loads, leaving out names that are not references. */
function collectRefs(ts: typeof TS, root: TS.Node, refs: Set<string>, loads: string[]): void {
  const visit = (node: TS.Node): void => {
    if (ts.isIdentifier(node)) {
      refs.add(node.text);
      return;
    }
    if (ts.isPropertyAccessExpression(node)) return visit(node.expression);
    if (ts.isQualifiedName(node)) return visit(node.left);
    if (ts.isPropertyAssignment(node) || ts.isPropertyDeclaration(node) || ts.isPropertySignature(node) || ts.isEnumMember(node)) {
      if (ts.isComputedPropertyName(node.name)) visit(node.name);
      if ('initializer' in node && node.initializer !== undefined) visit(node.initializer);
      if ('type' in node && node.type !== undefined) visit(node.type);
      return;
    }
    if (ts.isMethodDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node) || ts.isMethodSignature(node)) {
      if (ts.isComputedPropertyName(node.name)) visit(node.name);
      ts.forEachChild(node, (child) => (child === node.name ? undefined : visit(child)));
      return;
    }
    if (ts.isBindingElement(node)) {
      if (node.propertyName !== undefined && ts.isComputedPropertyName(node.propertyName)) visit(node.propertyName);
      if (!ts.isIdentifier(node.name)) visit(node.name);
      if (node.initializer !== undefined) visit(node.initializer);
      return;
    }
    if (ts.isLabeledStatement(node)) return visit(node.statement);
    if (ts.isBreakOrContinueStatement(node)) return;
    if (ts.isJsxAttribute(node)) return node.initializer === undefined ? undefined : visit(node.initializer);
    if (ts.isCallExpression(node) && node.arguments.length > 0 && isStringLike(ts, node.arguments[0] as TS.Node)) {
      const loaded = node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require');
      if (loaded) loads.push((node.arguments[0] as TS.StringLiteralLike).text);
    }
    ts.forEachChild(node, visit);
  };
  visit(root);
}

/** A call of something imported from `flywheel` (definePipeline, defineStep): a declaration, not an effect. */
function isFlywheelCall(ts: typeof TS, expression: TS.Expression, bindings: ModuleFacts['bindings']): boolean {
  return ts.isCallExpression(expression) && ts.isIdentifier(expression.expression) && bindings[expression.expression.text]?.from === 'flywheel';
}

/** The facts of one module's source (TypeScript or JavaScript). */
export function moduleFacts(ts: typeof TS, source: string, fileName: string): ModuleFacts {
  const kind = /\.[cm]?tsx$|\.jsx$/.test(fileName) ? ts.ScriptKind.TSX : /\.[cm]?js$/.test(fileName) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, kind);
  const facts: ModuleFacts = { statements: [], bindings: {}, exports: {}, stars: [], effects: [] };
  // Imports first: whether a call is Flywheel's own depends on them, wherever they stand.
  for (const statement of file.statements) {
    if (ts.isImportDeclaration(statement) && isStringLike(ts, statement.moduleSpecifier)) {
      const from = statement.moduleSpecifier.text;
      const clause = statement.importClause;
      if (clause === undefined) facts.effects.push(from);
      else if (!clause.isTypeOnly) {
        if (clause.name !== undefined) facts.bindings[clause.name.text] = { from, name: 'default' };
        const named = clause.namedBindings;
        if (named !== undefined && ts.isNamespaceImport(named)) facts.bindings[named.name.text] = { from, name: '*' };
        else if (named !== undefined)
          for (const element of named.elements)
            if (!element.isTypeOnly) facts.bindings[element.name.text] = { from, name: (element.propertyName ?? element.name).text };
      }
    } else if (ts.isImportEqualsDeclaration(statement) && ts.isExternalModuleReference(statement.moduleReference)) {
      const expression = statement.moduleReference.expression;
      if (isStringLike(ts, expression)) facts.bindings[statement.name.text] = { from: expression.text, name: '*' };
    }
  }
  for (const statement of file.statements) facts.statements.push(statementFacts(ts, statement, file, facts));
  return facts;
}

function statementFacts(ts: typeof TS, statement: TS.Statement, file: TS.SourceFile, facts: ModuleFacts): StatementFacts {
  const declares: string[] = [];
  const refs = new Set<string>();
  const loads: string[] = [];
  let effect = false;
  let runs = false;
  const exported = hasModifier(ts, statement, ts.SyntaxKind.ExportKeyword);
  const asDefault = hasModifier(ts, statement, ts.SyntaxKind.DefaultKeyword);
  if (hasModifier(ts, statement, ts.SyntaxKind.DeclareKeyword) || ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) {
    // Types only: nothing runs, and a type is not behaviour.
  } else if (ts.isImportDeclaration(statement) || ts.isImportEqualsDeclaration(statement)) {
    // Bindings, read above.
  } else if (ts.isVariableStatement(statement)) {
    for (const declaration of statement.declarationList.declarations) {
      boundNames(ts, declaration.name, declares);
      collectRefs(ts, declaration, refs, loads);
    }
    runs = true;
  } else if (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) {
    if (statement.name !== undefined && ts.isIdentifier(statement.name)) declares.push(statement.name.text);
    if (asDefault) declares.push('default');
    collectRefs(ts, statement, refs, loads);
    runs = ts.isClassDeclaration(statement);
  } else if (ts.isExportAssignment(statement)) {
    declares.push('default');
    collectRefs(ts, statement.expression, refs, loads);
    runs = true;
  } else if (ts.isExportDeclaration(statement)) {
    const from = statement.moduleSpecifier !== undefined && isStringLike(ts, statement.moduleSpecifier) ? statement.moduleSpecifier.text : undefined;
    const clause = statement.exportClause;
    if (statement.isTypeOnly) {
      // types only
    } else if (clause === undefined) {
      if (from !== undefined) facts.stars.push(from);
    } else if (ts.isNamespaceExport(clause)) {
      if (from !== undefined) facts.exports[clause.name.text] = { from, name: '*' };
    } else {
      for (const element of clause.elements) {
        if (element.isTypeOnly) continue;
        const local = (element.propertyName ?? element.name).text;
        facts.exports[element.name.text] = from === undefined ? { local } : { from, name: local };
        if (from === undefined) refs.add(local);
      }
    }
  } else {
    // Code that runs for its effect: a call, an assignment, a loop. A directive ('use strict') or a call of
    // Flywheel's own (definePipeline) only declares.
    const expression = ts.isExpressionStatement(statement) ? statement.expression : undefined;
    const directive = expression !== undefined && isStringLike(ts, expression);
    effect = !directive && !(expression !== undefined && isFlywheelCall(ts, expression, facts.bindings));
    runs = !directive;
    collectRefs(ts, statement, refs, loads);
  }
  if (ts.isExportAssignment(statement)) facts.exports.default = { local: 'default' };
  else if (asDefault && declares.length > 0) facts.exports.default = { local: declares[0] as string };
  else if (exported) for (const name of declares) facts.exports[name] = { local: name };
  return { start: statement.getStart(file), end: statement.getEnd(), declares, refs: [...refs].sort(), effect, loads, runs };
}
