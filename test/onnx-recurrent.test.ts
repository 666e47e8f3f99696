// ONNX's LSTM, GRU and RNN imported as lax.scan: every attribute of the spec against ONNX Runtime's own
// kernels (directions, layout 1, peepholes, clip, activations with alpha/beta, input_forget,
// linear_before_reset, sequence_lens, initial states, all outputs), and gradients through them.
import { create, toBinary } from '@bufbuild/protobuf';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { type Array, grad, jit, np, onnx, random } from '../src/index.js';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as A,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType as T,
  ValueInfoProtoSchema,
} from '../src/onnx/generated/onnx_pb.js';
import { assertClose, gradMatchesFiniteDifferences, rng } from '../laws/index.js';

const ort = createRequire(import.meta.url)('onnxruntime-node');

type Attr = ReturnType<typeof create<typeof AttributeProtoSchema>>;
const int = (name: string, i: number): Attr => create(AttributeProtoSchema, { name, type: A.INT, i: BigInt(i) });
const float = (name: string, f: number): Attr => create(AttributeProtoSchema, { name, type: A.FLOAT, f });
const floats = (name: string, fs: number[]): Attr => create(AttributeProtoSchema, { name, type: A.FLOATS, floats: fs });
const str = (name: string, s: string): Attr =>
  create(AttributeProtoSchema, { name, type: A.STRING, s: new TextEncoder().encode(s) });
const strs = (name: string, ss: string[]): Attr =>
  create(AttributeProtoSchema, { name, type: A.STRINGS, strings: ss.map((s) => new TextEncoder().encode(s)) });
const info = (name: string, dims: number[], elemType: number = T.FLOAT) =>
  create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType,
          shape: { dim: dims.map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } })) },
        },
      },
    },
  });

interface Case {
  name: string;
  op: 'LSTM' | 'GRU' | 'RNN';
  attrs: Attr[];
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  dirs: number;
  layout?: number;
  lens?: number[];
  initial?: boolean;
  peepholes?: boolean;
}
const GATES = { LSTM: 4, GRU: 3, RNN: 1 };

/** The model (every input a graph input, in the spec's order) and random inputs for it. */
function build(c: Case) {
  const g = GATES[c.op] * c.hidden;
  const x = c.layout ? [c.batch, c.seq, c.input] : [c.seq, c.batch, c.input];
  const state = c.layout ? [c.batch, c.dirs, c.hidden] : [c.dirs, c.batch, c.hidden];
  const inputs: [string, number[], number][] = [
    ['X', x, T.FLOAT],
    ['W', [c.dirs, g, c.input], T.FLOAT],
    ['R', [c.dirs, g, c.hidden], T.FLOAT],
    ['B', [c.dirs, 2 * g], T.FLOAT],
  ];
  if (c.lens || c.initial || c.peepholes) inputs.push(['sequence_lens', [c.batch], T.INT32]);
  if (c.initial || c.peepholes) inputs.push(['initial_h', state, T.FLOAT]);
  if (c.op === 'LSTM' && (c.initial || c.peepholes)) inputs.push(['initial_c', state, T.FLOAT]);
  if (c.peepholes) inputs.push(['P', [c.dirs, 3 * c.hidden], T.FLOAT]);
  const outputs = ['Y', 'Y_h', ...(c.op === 'LSTM' ? ['Y_c'] : [])];
  const yShape = c.layout ? [c.batch, c.seq, c.dirs, c.hidden] : [c.seq, c.dirs, c.batch, c.hidden];
  const model = create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: 14n }],
    graph: create(GraphProtoSchema, {
      name: c.name,
      node: [
        create(NodeProtoSchema, {
          opType: c.op,
          input: inputs.map(([n]) => n),
          output: outputs,
          attribute: [int('hidden_size', c.hidden), ...(c.layout ? [int('layout', 1)] : []), ...c.attrs],
        }),
      ],
      input: inputs.map(([n, d, t]) => info(n, d, t)),
      output: outputs.map((n) => info(n, n === 'Y' ? yShape : state)),
    }),
  });
  let k = 0;
  const values = inputs.map(([n, dims]) =>
    n === 'sequence_lens'
      ? np.array(c.lens ?? new globalThis.Array(c.batch).fill(c.seq), { dtype: 'int32' })
      : np.multiply(random.normal(random.key(++k), dims), n === 'X' ? 1 : 0.4),
  );
  return { bytes: toBinary(ModelProtoSchema, model), names: inputs.map(([n]) => n), values, outputs };
}

const cases: Case[] = [
  {
    name: 'LSTM bidirectional, clip, HardSigmoid/ScaledTanh activations with alpha and beta',
    op: 'LSTM',
    seq: 5,
    batch: 3,
    input: 4,
    hidden: 3,
    dirs: 2,
    attrs: [
      str('direction', 'bidirectional'),
      float('clip', 1.5),
      strs('activations', ['HardSigmoid', 'ScaledTanh', 'Tanh', 'Sigmoid', 'Tanh', 'Softsign']),
      floats('activation_alpha', [0.3, 0.8]),
      floats('activation_beta', [0.4, 1.2]),
    ],
  },
  {
    name: 'LSTM reverse with sequence_lens, peepholes, initial states and input_forget',
    op: 'LSTM',
    seq: 4,
    batch: 3,
    input: 2,
    hidden: 3,
    dirs: 1,
    lens: [4, 2, 1],
    peepholes: true,
    attrs: [str('direction', 'reverse'), int('input_forget', 1)],
  },
  {
    name: 'LSTM layout 1 (batch first)',
    op: 'LSTM',
    seq: 3,
    batch: 2,
    input: 3,
    hidden: 4,
    dirs: 1,
    layout: 1,
    initial: true,
    attrs: [],
  },
  {
    name: 'GRU bidirectional with linear_before_reset and sequence_lens',
    op: 'GRU',
    seq: 4,
    batch: 3,
    input: 3,
    hidden: 2,
    dirs: 2,
    lens: [2, 4, 3],
    initial: true,
    attrs: [str('direction', 'bidirectional'), int('linear_before_reset', 1)],
  },
  {
    name: 'GRU forward, Relu/Tanh activations',
    op: 'GRU',
    seq: 3,
    batch: 2,
    input: 2,
    hidden: 3,
    dirs: 1,
    attrs: [strs('activations', ['Sigmoid', 'Relu'])],
  },
  {
    name: 'RNN reverse, LeakyRelu, layout 1, sequence_lens',
    op: 'RNN',
    seq: 4,
    batch: 2,
    input: 3,
    hidden: 2,
    dirs: 1,
    layout: 1,
    lens: [3, 4],
    initial: true,
    attrs: [str('direction', 'reverse'), strs('activations', ['LeakyRelu']), floats('activation_alpha', [0.2])],
  },
  {
    name: 'RNN bidirectional, defaults',
    op: 'RNN',
    seq: 3,
    batch: 2,
    input: 2,
    hidden: 3,
    dirs: 2,
    attrs: [str('direction', 'bidirectional')],
  },
];

describe('ONNX LSTM, GRU and RNN import: equal to ONNX Runtime', () => {
  for (const c of cases)
    it(c.name, async () => {
      const { bytes, names, values, outputs } = build(c);
      // ONNX Runtime has no batch-first kernels: the reference runs layout 0 on transposed values.
      const ref = c.layout ? build({ ...c, layout: 0 }) : { bytes, names, values };
      const refValues = values.map((v, i) =>
        c.layout && ['X', 'initial_h', 'initial_c'].includes(names[i]) ? np.swapaxes(v, 0, 1) : v,
      );
      const session = await ort.InferenceSession.create(ref.bytes);
      const feeds = Object.fromEntries(
        names.map((n, i) => [
          n,
          new ort.Tensor(
            refValues[i].dtype === 'int32' ? 'int32' : 'float32',
            refValues[i].dataSync(),
            refValues[i].shape,
          ),
        ]),
      );
      const want = await session.run(feeds);
      const m = onnx.load(bytes);
      const got = m.fn(m.params, ...values);
      outputs.forEach((name, k) => {
        let w = np.array(globalThis.Array.from(want[name].data as Float32Array), { shape: want[name].dims });
        if (c.layout) w = name === 'Y' ? np.transpose(w, [2, 0, 1, 3]) : np.swapaxes(w, 0, 1);
        expect(got[k].shape).toEqual(w.shape);
        assertClose(got[k], w, { rtol: 1e-4, atol: 1e-5 }, name);
      });
      // jit gives the same outputs.
      assertClose(jit((...xs: Array[]) => m.fn(m.params, ...xs)[0])(...values), got[0], { rtol: 1e-5, atol: 1e-6 });
    });
  it('gradients flow through an imported LSTM (finite differences, and jit(grad) equals grad)', () => {
    const c = cases[1];
    const { bytes, values } = build(c);
    const m = onnx.load(bytes);
    const loss = (w: Array) => np.sum(np.square(m.fn(m.params, values[0], w, ...values.slice(2))[0]));
    expect(gradMatchesFiniteDifferences((w) => [loss(w)], [values[1]], [0], rng(3))).toBe(true);
    assertClose(jit(grad(loss))(values[1]), grad(loss)(values[1]), { rtol: 1e-4, atol: 1e-5 });
  });
  it('refuses what the spec does not name', () => {
    const c = { ...cases[4], attrs: [strs('activations', ['Sigmoid', 'Swish'])] };
    const { bytes, values } = build(c);
    const m = onnx.load(bytes);
    expect(() => m.fn(m.params, ...values)).toThrow(/activation 'Swish' is not in the ONNX specification/);
  });
});
