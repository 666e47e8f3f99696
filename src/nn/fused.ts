/**
 * Layers as composites that lower to ONNX's fused operators (what PyTorch's export emits and
 * converters recognise): recurrent layers to `LSTM`, `GRU` and `RNN`, max pooling to `MaxPool`;
 * transforms see the decomposition inside.
 * @module
 */
import type { Array } from '../core/array.js';
import { composite } from '../control/composite.js';
import type { UnfoldParams } from '../primitives/index.js';

/**
 * Max pooling (`decomposition(x)`: a reduction over unfolded windows) as ONNX `MaxPool` on NCHW
 * float inputs. ONNX Runtime's MaxPool compares past NaN, where Fluxion's max (like JAX's) answers
 * NaN, and its float32 kernels (plain and blocked) answer the lowest float, not -infinity, for a
 * window whose values are all -infinity. A MaxPool of each value's kind (2 for NaN, 0 for
 * -infinity, 1 otherwise) says which windows to set to NaN or -infinity.
 */
export function fusedMaxPool(x: Array, window: UnfoldParams, decomposition: (x: Array) => Array): Array {
  const { window: kernel, strides, padding, dilation } = window;
  const [y] = composite('max_pool', (v) => [decomposition(v)], [x], {
    onnx: (e, [input], _, { ins: [a] }) => {
      if (a.shape.length !== 2 + kernel.length || !['float32', 'float64', 'float16', 'bfloat16'].includes(a.dtype))
        return undefined;
      const attributes = {
        kernel_shape: kernel,
        strides,
        dilations: dilation,
        pads: [...padding.map(([lo]) => lo), ...padding.map(([, hi]) => hi)],
      };
      const pooled = e.op('MaxPool', [input], attributes);
      // 2 - [x == x] - [x == -inf] per value: comparisons, which ONNX Runtime runs on both threads
      // (IsNaN and IsInf ran 1.6x and 1.3x slower), and arithmetic in bytes (a comparison cast to
      // floats took 0.4-1.9 ms, to bytes 0.05-0.14), pooled as floats: ONNX Runtime's byte MaxPool
      // has no fast kernel (ResNet-18's stem at batch 32: 2.0 ms, against 0.16 ms for the cast to
      // floats and 0.36 ms for the float MaxPool with its layout changes).
      const byte = (v: string) => e.op('Cast', [v], { to: e.elemType('uint8', true) });
      const notNan = byte(e.op('Equal', [input, input]));
      const negInf = byte(e.op('Equal', [input, e.constant(-Infinity, a.dtype)]));
      const two = e.op('Cast', [e.constant(2, 'int32')], { to: e.elemType('uint8', true) });
      const kind = e.op('Cast', [e.op('Sub', [e.op('Sub', [two, notNan]), negInf])], { to: e.elemType(a.dtype) });
      // pooled - [+inf, 0, NaN][k] as arithmetic on the output (two Wheres took twice as long):
      // (1 - k)(2 - k) / (k (2 - k)) is +inf at 0, +0 at 1 (so -0 stays -0) and 0/0 at 2.
      const k = e.op('MaxPool', [kind], attributes);
      const twoMinusK = e.op('Sub', [e.constant(2, a.dtype), k]);
      const shift = e.op('Div', [
        e.op('Mul', [e.op('Sub', [e.constant(1, a.dtype), k]), twoMinusK]),
        e.op('Mul', [k, twoMinusK]),
      ]);
      return [e.op('Sub', [pooled, shift])];
    },
  });
  return y;
}

/** The ONNX recurrent operators, with where each PyTorch gate block goes in ONNX's order. */
const OPERATORS = {
  LSTM: { gates: [0, 3, 1, 2], states: 2 }, // PyTorch i, f, g, o → ONNX i, o, f, c
  GRU: { gates: [1, 0, 2], states: 1 }, // r, z, n → z, r, h
  RNN: { gates: [0], states: 1 },
} as const;

/** PyTorch-layout weights of one direction, with an LSTM's peephole diagonals if it has them. */
export interface RecurrentWeights {
  wIh: Array;
  wHh: Array;
  bIh: Array;
  bHh: Array;
  wCi?: Array;
  wCf?: Array;
  wCo?: Array;
}

/**
 * Runs `run(xs, weights, states)` (a scan over `xs [T, N, I]` returning `[ys, ...finalStates]`) as
 * the ONNX operator `op` in one direction: `states` are `[h0]` (`[h0, c0]` for an LSTM).
 */
export function fusedRecurrence(
  op: keyof typeof OPERATORS,
  run: (xs: Array, w: RecurrentWeights, states: Array[]) => Array[],
  xs: Array,
  w: RecurrentWeights,
  states: Array[],
  reverse: boolean,
): Array[] {
  const peephole = w.wCi !== undefined;
  const weights = [w.wIh, w.wHh, w.bIh, w.bHh, ...(peephole ? [w.wCi!, w.wCf!, w.wCo!] : [])];
  const nw = weights.length;
  return composite(
    `${op.toLowerCase()}${reverse ? '_reverse' : ''}`,
    (x, ...rest) => {
      const [wIh, wHh, bIh, bHh, wCi, wCf, wCo] = rest.slice(0, nw);
      return run(x, { wIh, wHh, bIh, bHh, ...(peephole ? { wCi, wCf, wCo } : {}) }, rest.slice(nw));
    },
    [xs, ...weights, ...states],
    {
      onnx: (e, [x, wIh, wHh, bIh, bHh, ...rest], _, { ins }) => {
        // ONNX Runtime's recurrent kernels run float32 only ("LSTM operator does not support double
        // yet"), and a float16 step rounds every operation to float16: other dtypes take the scan.
        if (ins[0].dtype !== 'float32') return undefined;
        const { gates, states: ns } = OPERATORS[op];
        const onnxOrder = (name: string) => {
          if (gates.length === 1) return name;
          const parts = e.ops('Split', [name], { axis: 0, num_outputs: gates.length }, gates.length);
          return e.op('Concat', [...gates.map((g) => parts[g])], { axis: 0 });
        };
        const lead = (name: string) => e.op('Unsqueeze', [name, e.ints([0])]);
        const bias = e.op('Concat', [onnxOrder(bIh), onnxOrder(bHh)], { axis: 0 });
        const [ci, cf, co] = peephole ? rest.slice(0, 3) : [];
        const initial = rest.slice(peephole ? 3 : 0).map(lead);
        const inputs = [x, lead(onnxOrder(wIh)), lead(onnxOrder(wHh)), lead(bias), '', ...initial];
        if (peephole) inputs.push(lead(e.op('Concat', [ci, co, cf], { axis: 0 }))); // ONNX's P is i, o, f
        const outs = e.ops(
          op,
          inputs,
          {
            hidden_size: ins[2].shape[1],
            direction: reverse ? 'reverse' : 'forward',
            ...(op === 'GRU' ? { linear_before_reset: 1 } : {}),
          },
          1 + ns,
        );
        return [
          e.op('Squeeze', [outs[0], e.ints([1])]),
          ...outs.slice(1).map((s) => e.op('Squeeze', [s, e.ints([0])])),
        ];
      },
    },
  );
}
