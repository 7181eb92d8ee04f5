// The import rule's checker: pure functions over source text, so the test can feed it a wrong-way example as
// well as the real tree. The TypeScript parser reads the imports rather than a regex, so comments, strings
// and template literals that merely look like imports are never counted.
import ts from 'typescript';
import { posix } from 'node:path';

export interface ImportRef {
  /** the specifier as written */
  specifier: string;
  /** 1-based line of the specifier */
  line: number;
  kind: 'import' | 'export' | 'dynamic' | 'type' | 'url';
}

/** Every module a file names: static and type imports, `export ... from`, `import()`, `import('x').T` and
 *  `new URL('./x', import.meta.url)` (how worker files and wasm are found). */
export function readImports(fileName: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true,
    fileName.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const add = (node: ts.Node, specifier: string, kind: ImportRef['kind']): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    out.push({ specifier, line, kind });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, node.moduleSpecifier.text, 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier, node.moduleSpecifier.text, 'export');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)
      && ts.isStringLiteral(node.moduleReference.expression)) {
      add(node.moduleReference.expression, node.moduleReference.expression.text, 'import');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) add(arg, arg.text, 'dynamic');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)
      && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal, node.argument.literal.text, 'type');
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      const [target, base] = node.arguments ?? [];
      if (target && base && (ts.isStringLiteral(target) || ts.isNoSubstitutionTemplateLiteral(target))
        && isImportMetaUrl(base)) add(target, target.text, 'url');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function isImportMetaUrl(node: ts.Node): boolean {
  return ts.isPropertyAccessExpression(node) && node.name.text === 'url'
    && ts.isMetaProperty(node.expression) && node.expression.keywordToken === ts.SyntaxKind.ImportKeyword;
}

/** The folder under src/ a relative specifier lands in, or undefined for packages, node: modules and paths that
 *  leave src/. `file` is relative to src/ with forward slashes. */
export function targetFolder(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const resolved = posix.normalize(posix.join(posix.dirname(file), specifier));
  if (resolved.startsWith('../') || resolved === '..') return undefined;
  const slash = resolved.indexOf('/');
  return slash < 0 ? '' : resolved.slice(0, slash);
}

export function folderOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? '' : file.slice(0, slash);
}

/** folder -> its layer's index. Throws on a folder listed twice, since then the rule would be ambiguous. */
export function layerIndex(layers: string[][]): Map<string, number> {
  const index = new Map<string, number>();
  layers.forEach((layer, i) => {
    for (const folder of layer) {
      if (index.has(folder)) throw new Error(`layers.json lists ${folder} twice`);
      index.set(folder, i);
    }
  });
  return index;
}

export interface Violation {
  file: string;
  line: number;
  from: string;
  to: string;
  specifier: string;
}

/**
 * Imports that do not point left: to a later layer, or to another folder of the same layer (peers never import each
 * other, so the folders of one layer cannot form a cycle). Files are keyed by their path under src/.
 */
export function findViolations(files: Map<string, string>, layers: string[][]): Violation[] {
  const index = layerIndex(layers);
  const out: Violation[] = [];
  for (const [file, text] of files) {
    const from = folderOf(file);
    const fromLayer = index.get(from);
    if (fromLayer === undefined) continue; // reported by unlistedFolders
    for (const ref of readImports(file, text)) {
      const to = targetFolder(file, ref.specifier);
      if (to === undefined || to === from) continue;
      const toLayer = index.get(to);
      if (toLayer === undefined || toLayer >= fromLayer) out.push({ file, line: ref.line, from, to, specifier: ref.specifier });
    }
  }
  return out;
}

/** Folders under src/ (including '' for a file directly in src/) that no layer lists. */
export function unlistedFolders(files: Iterable<string>, layers: string[][]): string[] {
  const index = layerIndex(layers);
  const missing = new Set<string>();
  for (const file of files) {
    const folder = folderOf(file);
    if (!index.has(folder)) missing.add(folder === '' ? '(src/ itself)' : folder);
  }
  return [...missing].sort();
}

/** File names used by more than one file, with every path that uses them. */
export function duplicateNames(files: Iterable<string>): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const file of files) {
    const name = posix.basename(file);
    byName.set(name, [...(byName.get(name) ?? []), file]);
  }
  return new Map([...byName].filter(([, paths]) => paths.length > 1));
}

export function formatViolation(v: Violation): string {
  return `src/${v.file}:${v.line}: ${v.from}/ imports ${v.to}/ ('${v.specifier}'), but ${v.to}/ is not to the left of ${v.from}/`;
}
