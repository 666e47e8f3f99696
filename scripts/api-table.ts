// docs/api.md: every public function by namespace with its one-line summary (from its TSDoc) and
// its status against NumPy/JAX. `npx tsx scripts/api-table.ts` rewrites the file; test/docs.test.ts
// fails when it is stale.
import ts from 'typescript';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Where Fluxion's semantics differ from NumPy's (JAX's choice, or a documented limit). */
const DEVIATIONS: Record<string, string> = {
  'np.full': 'JAX: a JS integer fills int32',
  'np.nanargmax': 'JAX: -1 for an all-NaN slice (NumPy raises)',
  'np.nanargmin': 'JAX: -1 for an all-NaN slice (NumPy raises)',
  'np.unique': 'JAX: static `size` under jit',
  'np.nonzero': 'JAX: static `size` under jit',
  'np.flatnonzero': 'JAX: static `size` under jit',
  'np.argwhere': 'JAX: static `size` under jit',
  'np.bincount': 'JAX: static `length` under jit',
  'np.histogram': 'JAX: static `range` under jit',
  'np.power': 'integers exact; a negative integer exponent gives 0 (NumPy raises)',
  'np.partition': 'a full sort (a valid partition)',
  'np.argpartition': 'a full sort (a valid partition)',
  'np.empty': 'zeros (arrays are immutable)',
  'np.emptyLike': 'zeros (arrays are immutable)',
  'np.linalg.cholesky': 'JAX: reads the symmetric part',
  'np.linalg.eigh': 'JAX: the symmetric part unless `UPLO` is given',
  'np.linalg.lstsq': 'JAX: residuals always computed',
  'np.linalg.pinv': 'JAX: default `rtol`',
};

const program = ts.createProgram([`${root}src/index.ts`], {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
});
const checker = program.getTypeChecker();
const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
const summary = (s: ts.Symbol): string => {
  const text = ts.displayPartsToString(resolve(s).getDocumentationComment(checker)).replace(/\s+/g, ' ').trim();
  const first = (text.match(/^(.*?[.:])(\s|$)/)?.[1] ?? text).replace(/:$/, '');
  return first.replace(/\|/g, '\\|').replace(/\{@link ([^}]+)\}/g, '`$1`');
};
const isFunction = (s: ts.Symbol): boolean => {
  const r = resolve(s);
  if (r.flags & ts.SymbolFlags.Function) return true;
  const decl = r.valueDeclaration;
  if (!decl) return false;
  return checker.getTypeOfSymbolAtLocation(r, decl).getCallSignatures().length > 0 && !(r.flags & ts.SymbolFlags.Class);
};
const isNamespace = (s: ts.Symbol) => !!(resolve(s).flags & ts.SymbolFlags.ValueModule);
const snake = (n: string) => n.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase();

type Row = { name: string; summary: string; status: string };
const sections = new Map<string, Row[]>();
function walk(prefix: string, symbol: ts.Symbol) {
  const rows: Row[] = [];
  sections.set(prefix, rows);
  const exports = checker.getExportsOfModule(resolve(symbol)).sort((a, b) => a.name.localeCompare(b.name));
  for (const s of exports.filter((e) => !isNamespace(e) && isFunction(e))) {
    const name = `${prefix}.${s.name}`;
    const status = DEVIATIONS[name] ?? (prefix.startsWith('np') ? `as NumPy's \`${snake(s.name)}\`` : '');
    rows.push({ name, summary: summary(s), status });
  }
  for (const s of exports.filter(isNamespace)) walk(`${prefix}.${s.name}`, s);
  for (const s of exports.filter(isObjectOfFunctions)) {
    const members = propertiesOf(s).map((p) => ({
      name: `${prefix}.${s.name}.${p.name}`,
      summary: summary(p),
      status: '',
    }));
    sections.set(`${prefix}.${s.name}`, members);
  }
  if (!rows.length) sections.delete(prefix);
}
/** An object of functions (`lax.linalg`): listed as a namespace. Shorthand members document as their values. */
function propertiesOf(s: ts.Symbol): ts.Symbol[] {
  const r = resolve(s);
  if (!(r.flags & ts.SymbolFlags.Variable) || !r.valueDeclaration) return [];
  return checker
    .getTypeOfSymbolAtLocation(r, r.valueDeclaration)
    .getProperties()
    .map((p) => {
      const d = p.valueDeclaration;
      return d && ts.isShorthandPropertyAssignment(d) ? (checker.getShorthandAssignmentValueSymbol(d) ?? p) : p;
    });
}
function isObjectOfFunctions(s: ts.Symbol): boolean {
  const props = propertiesOf(s);
  return props.length > 0 && props.every(isFunction) && !isFunction(s);
}
const main = program.getSourceFile(`${root}src/index.ts`)!;
const top = checker.getExportsOfModule(checker.getSymbolAtLocation(main)!);
for (const s of top.filter(isNamespace)) walk(s.name, s);
const topRows = top
  .filter((s) => !isNamespace(s) && isFunction(s))
  .sort((a, b) => a.name.localeCompare(b.name))
  .map((s) => ({ name: s.name, summary: summary(s), status: '' }));

/** The generated text of docs/api.md. */
export function apiTable(): string {
  const out = [
    '# API index',
    '',
    'Every public function by namespace, with its one-line summary and where it departs from NumPy',
    "(NumPy's semantics unless the status says otherwise; test/numpy.test.ts checks them against NumPy).",
    'Generated by `npx tsx scripts/api-table.ts`; `npm test` fails when this file is stale. The full',
    'reference with signatures and examples is the typedoc site (`npm run docs`).',
    '',
    ...[...sections].map(([ns, rows]) => `- [${ns}](#${ns.replace(/\./g, '')}): ${rows.length}`),
    '',
  ];
  const table = (title: string, rows: Row[]) => [
    `## ${title}`,
    '',
    '| function | summary | status |',
    '|---|---|---|',
    ...rows.map((r) => `| \`${r.name}\` | ${r.summary} | ${r.status} |`),
    '',
  ];
  out.push(...table('top level', topRows));
  for (const [ns, rows] of sections) out.push(...table(ns, rows));
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(`${root}docs/api.md`, apiTable());
  console.log(`docs/api.md: ${[...sections.values()].reduce((n, r) => n + r.length, topRows.length)} functions`);
}
