// The ONNX node conformance suite (Debian's libonnx-testdata): every test model is imported with
// onnx.load, run on its first data set and compared with the expected outputs. Prints pass /
// fail / unsupported per operator and overall, and (with --write) writes docs/onnx-conformance.md.
// Run: npm run onnx:conformance
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { type Array, type DType, ConcreteArray, onnx, random } from '../src/index.js';
import { randomOps } from '../src/onnx/random.js';
import { ModelProtoSchema, TensorProtoSchema } from '../src/onnx/generated/onnx_pb.js';
import {
  type OptionalProto,
  OptionalProtoSchema,
  type SequenceProto,
  SequenceProtoSchema,
} from '../src/onnx/generated/onnx-data_pb.js';
import type { OnnxValue } from '../src/onnx/sequence.js';
import { tensorToArray } from '../src/onnx/import.js';

export const NODE_TESTS = '/usr/share/libonnx-testdata/data/node';

/**
 * `random`: a model of random operators, whose outputs can match in shape, type and support only;
 * `erratum`: a test whose expected data contradicts its own model (see DATA_ERRATA).
 */
export type Outcome = 'pass' | 'random' | 'erratum' | 'fail' | 'unsupported';
export interface TestResult {
  test: string;
  operator: string;
  outcome: Outcome;
  why?: string;
}

const unsupported = /not supported|has no|element type/;

/** Relative and absolute tolerance per float dtype: a few units in the last place of each. */
const TOLERANCE: Partial<Record<DType, [number, number]>> = {
  float64: [1e-12, 1e-15],
  float32: [1e-3, 1e-5],
  float16: [1e-2, 1e-3],
  bfloat16: [3e-2, 1e-3],
};

/** Elementwise comparison at the expected dtype's tolerance (NaN equals NaN, integers and booleans exactly). */
function close(got: Array, want: Array): string | null {
  if (got.shape.join() !== want.shape.join()) return `shape [${got.shape}] instead of [${want.shape}]`;
  const a = got.dataSync(),
    b = want.dataSync();
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]),
      y = Number(b[i]);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    const tol = TOLERANCE[want.dtype];
    if (!tol || !(Math.abs(x - y) <= tol[1] + tol[0] * Math.abs(y))) return `element ${i}: ${x} instead of ${y}`;
  }
  return null;
}

/**
 * Tests whose expected outputs contradict their own model: they fail for the reason given, and
 * the test suite checks that they still do (a fixed test data package would show up).
 */
export const DATA_ERRATA: Record<string, string> = {
  test_adam_multiple:
    "its outputs were computed with epsilon 1e-2, which the node does not carry (the spec's default is 1e-6)",
};

/**
 * Random outputs from another generator: the same shape and type, finite, and 0/1 where the
 * expected values are (Bernoulli).
 */
function plausible(got: OnnxValue | undefined, want: OnnxValue): string | null {
  if (!(got instanceof ConcreteArray) || !(want instanceof ConcreteArray)) return 'not a tensor';
  if (got.shape.join() !== want.shape.join()) return `shape [${got.shape}] instead of [${want.shape}]`;
  if (got.dtype !== want.dtype) return `${got.dtype} instead of ${want.dtype}`;
  const values = globalThis.Array.from(got.dataSync(), Number);
  if (!values.every(Number.isFinite)) return 'a value that is not finite';
  const binary = (v: number[]) => v.every((x) => x === 0 || x === 1);
  if (binary(globalThis.Array.from(want.dataSync(), Number)) && !binary(values)) return 'a value other than 0 and 1';
  return null;
}

/** Sequences and optionals compare element by element; tensors as above. */
function same(got: OnnxValue | undefined, want: OnnxValue): string | null {
  if (want === null) return got === null ? null : 'a value instead of an empty optional';
  if (globalThis.Array.isArray(want)) {
    if (!globalThis.Array.isArray(got)) return 'not a sequence';
    if (got.length !== want.length) return `${got.length} elements instead of ${want.length}`;
    for (let i = 0; i < want.length; i++) {
      const why = same(got[i], want[i]);
      if (why) return `element ${i}: ${why}`;
    }
    return null;
  }
  if (got === null || got === undefined || globalThis.Array.isArray(got)) return 'not a tensor';
  return close(got, want);
}

/** A test data file as the value its declared type says: a tensor, a sequence or an optional. */
function readValue(bytes: Uint8Array, elemType: string, where: string): OnnxValue {
  if (elemType.startsWith('sequence(')) return sequenceOf(fromBinary(SequenceProtoSchema, bytes), where);
  if (elemType.startsWith('optional(')) return optionalOf(fromBinary(OptionalProtoSchema, bytes), where);
  return tensorToArray(fromBinary(TensorProtoSchema, bytes), where);
}
const sequenceOf = (s: SequenceProto, where: string): OnnxValue[] => [
  ...s.tensorValues.map((t) => tensorToArray(t, where)),
  ...s.sequenceValues.map((q) => sequenceOf(q, where)),
  ...s.optionalValues.map((o) => optionalOf(o, where)),
];
function optionalOf(o: OptionalProto, where: string): OnnxValue {
  if (o.tensorValue) return tensorToArray(o.tensorValue, where);
  if (o.sequenceValue) return sequenceOf(o.sequenceValue, where);
  if (o.optionalValue) return optionalOf(o.optionalValue, where);
  return null;
}

/** Runs one test folder. */
export function runTest(dir: string): TestResult {
  const test = dir.split('/').pop()!;
  let operator = '?';
  try {
    const bytes = readFileSync(join(dir, 'model.onnx'));
    const nodes = fromBinary(ModelProtoSchema, bytes).graph?.node ?? [];
    operator = nodes.length === 1 ? nodes[0].opType : 'multi-node (expanded functions)';
    const model = onnx.load(bytes);
    const data = join(dir, 'test_data_set_0');
    const files = readdirSync(data);
    const read = (prefix: string, infos: { elemType: string }[]) =>
      files
        .filter((f) => f.startsWith(prefix))
        .sort((p, q) => parseInt(p.slice(prefix.length)) - parseInt(q.slice(prefix.length)))
        .map((f, i) => {
          const x = readValue(readFileSync(join(data, f)), infos[i]?.elemType ?? '', `${test}/${f}`);
          // numpy has no bfloat16: the suite stores bfloat16 values as their uint16 bit patterns.
          return infos[i]?.elemType === 'bfloat16' && x instanceof ConcreteArray && x.dtype === 'uint16'
            ? new ConcreteArray(x.storage, x.shape, 'bfloat16')
            : x;
        });
    const inputs = read('input_', model.inputs),
      expected = read('output_', model.outputs);
    const outputs = model.values(model.params, ...inputs, { key: random.key(0) });
    // Outputs that change with the key come from random operators (Dropout only in training mode).
    const draws =
      nodes.some((n) => randomOps[n.opType] || n.opType === 'Dropout') &&
      model
        .values(model.params, ...inputs, { key: random.key(1) })
        .some((v, i) => v instanceof ConcreteArray && same(v, outputs[i]!) !== null);
    for (let i = 0; i < expected.length; i++) {
      const why = (draws ? plausible : same)(outputs[i], expected[i]);
      if (why) return { test, operator, outcome: DATA_ERRATA[test] ? 'erratum' : 'fail', why: `output ${i}: ${why}` };
    }
    return { test, operator, outcome: draws ? 'random' : 'pass' };
  } catch (e) {
    const why = (e as Error).message.split('\n')[0].slice(0, 200);
    return { test, operator, outcome: unsupported.test(why) ? 'unsupported' : 'fail', why };
  }
}

/** Runs every node test; null when the test data is not installed. */
export function runConformance(root = NODE_TESTS): TestResult[] | null {
  if (!existsSync(root)) return null;
  return readdirSync(root)
    .sort()
    .map((t) => runTest(join(root, t)));
}

/** The summary table: one row per operator, then the totals. */
export function summarize(results: TestResult[]): string {
  const byOp = new Map<string, Record<Outcome, number>>();
  for (const r of results) {
    const row = byOp.get(r.operator) ?? { pass: 0, random: 0, erratum: 0, fail: 0, unsupported: 0 };
    row[r.outcome]++;
    byOp.set(r.operator, row);
  }
  const outcomes = ['pass', 'random', 'erratum', 'fail', 'unsupported'] as const;
  const total = { pass: 0, random: 0, erratum: 0, fail: 0, unsupported: 0 };
  const lines = [`| operator | ${outcomes.join(' | ')} |`, `|---|${outcomes.map(() => '---:').join('|')}|`];
  for (const [op, row] of [...byOp].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`| ${op} | ${outcomes.map((k) => row[k]).join(' | ')} |`);
    for (const k of outcomes) total[k] += row[k];
  }
  lines.push(`| **all ${results.length} tests** | ${outcomes.map((k) => `**${total[k]}**`).join(' | ')} |`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('onnx-conformance.ts')) {
  const results = runConformance();
  if (!results) {
    console.log(`ONNX conformance: ${NODE_TESTS} is missing (apt-get install libonnx-testdata)`);
    process.exit(1);
  }
  const table = summarize(results);
  console.log(table);
  if (process.argv.includes('--failures'))
    for (const r of results.filter((r) => r.outcome !== 'pass')) console.log(`${r.outcome} ${r.test}: ${r.why}`);
  if (process.argv.includes('--write')) {
    const doc = [
      '# ONNX conformance',
      '',
      `Debian's \`libonnx-testdata\` node tests (${results.length}), each imported with \`onnx.load\`, ` +
        'run on its first',
      "data set with Fluxion's eager CPU kernels and compared at the tolerance of the expected dtype (float32: rtol 1e-3, atol 1e-5; float64: rtol 1e-12).",
      '"Unsupported" means a clear refusal (an operator, element type or attribute Fluxion does not import);',
      '"random" means a model of random operators that runs, whose outputs (from another generator) match',
      'in shape, type and support (0/1 for Bernoulli) but cannot match in value; test/onnx-import.test.ts',
      'checks their distributions instead; "erratum" means expected data that contradicts its own model;',
      '"fail" means a wrong or missing result or another error. Regenerate with',
      '`npm run onnx:conformance -- --write`; the test suite holds the pass count as a floor.',
      '',
      table,
      '',
      '## Not passing, and why',
      '',
      ...results
        .filter((r) => r.outcome !== 'pass' && r.outcome !== 'random')
        .map((r) => `- \`${r.test}\` (${r.outcome}): ${DATA_ERRATA[r.test] ?? r.why}`),
      '',
    ].join('\n');
    writeFileSync('docs/onnx-conformance.md', doc);
  }
}
