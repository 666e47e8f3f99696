// Which dtypes each primitive computes in on ONNX Runtime's CPU provider, found by compiling every
// primitive sample of the registry in every dtype of its kind: `npm run dtype-table` prints the
// table; `--write` puts it in docs/onnx.md between its markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { type DType, type NDArray, DTypeError, executionPlan, getCpuBackend } from '../src/index.js';
import { Graph, subGraphs } from '../src/core/ir.js';
import { samples } from '../laws/index.js';

const KIND: Record<string, DType[]> = {
  float32: ['float64', 'float32', 'float16', 'bfloat16'],
  int32: ['int32', 'int16', 'int8'],
  uint32: ['uint32', 'uint16', 'uint8'],
};
const COLUMNS: DType[] = [
  'float64',
  'float32',
  'float16',
  'bfloat16',
  'int32',
  'int16',
  'int8',
  'uint32',
  'uint16',
  'uint8',
];
const NARROW = new Set<DType>(['float16', 'bfloat16', 'int16', 'int8', 'uint16', 'uint8']);

/** How one primitive runs in one dtype: `native`, `casts` (computed wider, rounded after), `js`, or null (not taken). */
function howItRuns(row: ReturnType<typeof samples>[number], from: string, to: DType): string | null {
  const inputs = row.inputs.map((x: NDArray) => (x.dtype === from ? x.astype(to) : x));
  try {
    row.prim.abstractEval(
      inputs.map((x) => x.aval),
      row.params,
    );
  } catch (e) {
    if (e instanceof DTypeError) return null;
    throw e;
  }
  const plan = executionPlan(
    Graph.ofEquation(
      row.prim,
      inputs.map((x) => x.aval),
      row.params,
    ),
  );
  if (/\bjs\b/.test(plan)) return 'js';
  return NARROW.has(to) ? 'casts' : 'native';
}

export function dtypeTable(): string {
  if (getCpuBackend() !== 'onnx') throw new Error('dtype-table: ONNX Runtime is not available here');
  const cells = new Map<string, Map<DType, Set<string>>>();
  for (const row of samples()) {
    if (row.noEval || subGraphs(row.params).length || !row.prim.onnx) continue;
    const byDtype = cells.get(row.prim.name) ?? cells.set(row.prim.name, new Map()).get(row.prim.name)!;
    for (const from of new Set(row.inputs.map((x) => x.dtype)))
      for (const to of KIND[from] ?? []) {
        const how = howItRuns(row, from, to);
        if (how) (byDtype.get(to) ?? byDtype.set(to, new Set()).get(to)!).add(how);
      }
  }
  const mark = (s: Set<string> | undefined) => (!s ? '' : s.has('js') ? 'JS' : s.has('casts') ? 'wide' : 'native');
  const lines = [
    `| primitive | ${COLUMNS.join(' | ')} |`,
    `|---|${COLUMNS.map(() => ':-:').join('|')}|`,
    ...[...cells]
      .filter(([, m]) => m.size)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, m]) => `| ${name} | ${COLUMNS.map((d) => mark(m.get(d))).join(' | ')} |`),
  ];
  return lines.join('\n');
}

const START = '<!-- dtype-table:start -->',
  END = '<!-- dtype-table:end -->';
if (process.argv[1]?.endsWith('dtype-table.ts')) {
  const table = dtypeTable();
  if (process.argv.includes('--write')) {
    const doc = readFileSync('docs/onnx.md', 'utf8');
    const at = doc.indexOf(START),
      end = doc.indexOf(END);
    if (at < 0 || end < 0) throw new Error(`docs/onnx.md has no ${START} ... ${END} markers`);
    writeFileSync('docs/onnx.md', `${doc.slice(0, at + START.length)}\n${table}\n${doc.slice(end)}`);
  } else console.log(table);
}
