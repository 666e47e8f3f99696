/**
 * ONNX operators as Fluxion operations, one entry per operator. Each takes its inputs (undefined
 * where an optional input is omitted) and returns its outputs. Shape-like inputs (Reshape's
 * shape, Slice's starts, ...) must be known values: constants, initializers or Shape results.
 * @module
 */
import type { Array } from '../core/array.js';
import { type DType, isFloat, isInteger } from '../core/dtype.js';
import type { GraphProto } from './generated/onnx_pb.js';
import * as np from '../np/index.js';
import * as P from '../primitives/index.js';
import * as F from '../nn/functional.js';
import { FluxionError, fmtShape } from '../core/errors.js';
import { normAxis, sizeOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { cond } from '../control/cond.js';
import { scan } from '../control/scan.js';
import { whileLoop } from '../control/while.js';
import type { Attributes } from './import.js';
import { fluxionDType } from './types.js';
import { recurrentOps } from './recurrent.js';
import { resizeOps } from './resize.js';
import { quantizeOps } from './quantize.js';
import { signalOps } from './signal.js';
import { randomOps } from './random.js';
import * as random from '../random.js';
import type { Key } from '../random.js';
import { visionOps } from './vision.js';
import type { OnnxValue } from './sequence.js';

/** What an operator sees besides its inputs. */
export interface OpContext {
  attrs: Attributes;
  /** `node NAME (OpType)`, for messages. */
  where: string;
  opset: number;
  /** How many outputs the node declares. */
  outputs: number;
  /** The values in scope (sub-graphs read outer values). */
  env: Map<string, OnnxValue>;
  run: (g: GraphProto, env: Map<string, OnnxValue>, opset: number) => (OnnxValue | undefined)[];
  /** The node's own random key (see random.ts); throws when the model was given none and has no seed. */
  key: () => Key;
}
type Op = (ins: (Array | undefined)[], ctx: OpContext) => (Array | undefined)[];

const need = (ins: (Array | undefined)[], i: number, ctx: OpContext): Array => {
  const x = ins[i];
  if (!x) throw new FluxionError(`${ctx.where}: input ${i} is required`);
  return x;
};
/** The values of a shape-like input, which must be known while tracing. */
function known(x: Array | undefined, ctx: OpContext, what: string): number[] {
  if (!x) throw new FluxionError(`${ctx.where}: ${what} is required`);
  const c = x.toConcrete();
  if (!c) throw new FluxionError(`${ctx.where}: ${what} must be a constant (it depends on a model input or parameter)`);
  return globalThis.Array.from(c.buffer, Number);
}
/** An axis attribute, negative ones counting from the end (out of range is an error). */
const axis = (a: number, rank: number) => normAxis('onnx', a, rank);
const isInt = isInteger;

const unary =
  (f: (x: Array) => Array): Op =>
  (ins, ctx) => [f(need(ins, 0, ctx))];
const binary =
  (f: (a: Array, b: Array) => Array): Op =>
  (ins, ctx) => [f(need(ins, 0, ctx), need(ins, 1, ctx))];
const variadic =
  (f: (a: Array, b: Array) => Array): Op =>
  (ins) => [(ins.filter(Boolean) as Array[]).reduce(f)];
/** Integer division and remainder on equal shapes (ONNX's C semantics), through the strict primitives. */
const strict = (prim: (a: Array, b: Array) => Array) => (a: Array, b: Array) => {
  const [x, y] = np.broadcastArrays(a, b);
  return prim(x, y);
};

function reshapeTo(x: Array, target: number[], allowzero: boolean): Array {
  const shape = target.map((d, i) => (d === 0 && !allowzero ? x.shape[i] : d));
  return np.reshape(x, shape);
}

/** `[begin, end]` pads per spatial axis from ONNX's `pads`/`auto_pad`, for a window op. */
function windowPads(
  ctx: OpContext,
  spatial: readonly number[],
  kernel: number[],
  strides: number[],
  dilations: number[],
): [number, number][] {
  const r = spatial.length;
  const auto = ctx.attrs.string('auto_pad', 'NOTSET');
  if (auto === 'VALID') return spatial.map(() => [0, 0]);
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    return spatial.map((s, i) => {
      const total = Math.max(0, (Math.ceil(s / strides[i]) - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - s);
      const small = Math.floor(total / 2);
      return auto === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
    });
  }
  if (auto !== 'NOTSET')
    throw new FluxionError(`${ctx.where}: auto_pad '${auto}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  const pads = ctx.attrs.ints('pads', new globalThis.Array(2 * r).fill(0));
  if (pads.length !== 2 * r || pads.some((p) => p < 0))
    throw new FluxionError(`${ctx.where}: pads [${pads}] must be ${2 * r} non-negative values`);
  return spatial.map((_, i) => [pads[i], pads[r + i]]);
}

/** Window parameters of a pooling node (ceil mode adds padding at the end, as PyTorch does). */
function poolParams(x: Array, ctx: OpContext) {
  const kernel = ctx.attrs.ints('kernel_shape');
  const r = kernel.length;
  const spatial = x.shape.slice(x.ndim - r);
  const strides = ctx.attrs.ints(
      'strides',
      kernel.map(() => 1),
    ),
    dilation = ctx.attrs.ints(
      'dilations',
      kernel.map(() => 1),
    );
  const padding = windowPads(ctx, spatial, kernel, strides, dilation);
  const real = padding.map((p) => [...p] as [number, number]);
  if (ctx.attrs.int('ceil_mode', 0)) {
    padding.forEach((p, i) => {
      const span = spatial[i] + p[0] + p[1] - dilation[i] * (kernel[i] - 1) - 1;
      let n = Math.ceil(span / strides[i]) + 1;
      if ((n - 1) * strides[i] >= spatial[i] + p[0]) n--;
      p[1] += Math.max(0, (n - 1) * strides[i] - span);
    });
  }
  return { window: kernel, strides, padding, dilation, real, r };
}
const windowAxes = (x: Array, r: number) => globalThis.Array.from({ length: r }, (_, i) => x.ndim + i);

function reduce(f: (x: Array, o: { axis: number[]; keepdims: boolean }) => Array, axesInputSince: number): Op {
  return (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const fromInput = ctx.opset >= axesInputSince;
    const given = fromInput ? (ins[1] ? known(ins[1], ctx, 'axes') : []) : ctx.attrs.ints('axes', []);
    if (!given.length && ctx.attrs.int('noop_with_empty_axes', 0)) return [x];
    const axes = given.length ? given.map((a) => axis(a, x.ndim)) : x.shape.map((_, i) => i);
    return [f(x, { axis: axes, keepdims: ctx.attrs.int('keepdims', 1) === 1 })];
  };
}

function argReduce(f: typeof np.argmax): Op {
  return (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const a = axis(ctx.attrs.int('axis', 0), x.ndim);
    const keepdims = ctx.attrs.int('keepdims', 1) === 1;
    if (!ctx.attrs.int('select_last_index', 0)) return [f(x, { axis: a, keepdims })];
    const last = np.subtract(x.shape[a] - 1, f(np.flip(x, { axis: a }), { axis: a, keepdims }));
    return [np.astype(last, 'int32')];
  };
}

function softmaxLike(f: (x: Array, axis: number) => Array): Op {
  return (ins, ctx) => {
    const x = need(ins, 0, ctx);
    if (ctx.opset >= 13) return [f(x, axis(ctx.attrs.int('axis', -1), x.ndim))];
    // Before opset 13 the input is coerced to 2-d at `axis`.
    const a = axis(ctx.attrs.int('axis', 1), x.ndim);
    const lead = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
    return [np.reshape(f(np.reshape(x, [lead, -1]), 1), x.shape)];
  };
}

const castTo = (x: Array, to: DType) => (x.dtype === to ? x : np.astype(x, to));
const dtypeOf = (code: number, ctx: OpContext): DType => {
  try {
    return fluxionDType(code, ctx.where);
  } catch {
    throw new FluxionError(`${ctx.where}: cast to element type ${code} is not supported`);
  }
};

/**
 * Negative log-likelihood of `logProb [N, C, ...]` at integer `target [N, ...]`
 * (ONNX's weights, ignore_index and reductions).
 */
function nll(logProb: Array, target: Array, weight: Array | undefined, ctx: OpContext): Array {
  const t = np.astype(target, 'int32');
  const ignore = ctx.attrs.has('ignore_index') ? ctx.attrs.int('ignore_index') : null;
  const keep = ignore === null ? np.onesLike(t, { dtype: 'bool' }) : np.notEqual(t, ignore);
  const safe = np.where(keep, t, 0);
  const picked = np.squeeze(np.takeAlongAxis(logProb, np.expandDims(safe, 1), 1), { axis: 1 });
  const w = np.where(keep, weight ? np.take(weight, safe) : 1, 0);
  const loss = np.negative(np.multiply(picked, w));
  const reduction = ctx.attrs.string('reduction', 'mean');
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return np.sum(loss);
  if (reduction === 'mean') return np.divide(np.sum(loss), np.sum(w));
  throw new FluxionError(`${ctx.where}: reduction '${reduction}' is not one of none, sum, mean`);
}

/** Moves depth blocks into space (DepthToSpace) or back (SpaceToDepth) by a reshape, a transpose and a reshape. */
function depthSpace(toSpace: boolean): Op {
  return (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const b = ctx.attrs.int('blocksize');
    const [n, c, h, w] = x.shape;
    if (!toSpace)
      return [
        np.reshape(np.transpose(np.reshape(x, [n, c, h / b, b, w / b, b]), [0, 3, 5, 1, 2, 4]), [
          n,
          c * b * b,
          h / b,
          w / b,
        ]),
      ];
    const crd = ctx.attrs.string('mode', 'DCR') === 'CRD';
    const split = crd ? np.reshape(x, [n, c / (b * b), b, b, h, w]) : np.reshape(x, [n, b, b, c / (b * b), h, w]);
    const moved = np.transpose(split, crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2]);
    return [np.reshape(moved, [n, c / (b * b), h * b, w * b])];
  };
}

/** Flat row indices of ONNX's index tuples: `idx [..., k]` into the first `k` axes of `shape`. */
function linearIndex(idx: Array, shape: readonly number[], ctx: OpContext): { rows: Array; k: number } {
  const k = idx.shape[idx.ndim - 1];
  if (k > shape.length)
    throw new FluxionError(`${ctx.where}: index tuples of length ${k} for a rank-${shape.length} tensor`);
  const strides = shape.slice(0, k).map((_, i) => shape.slice(i + 1, k).reduce((p, d) => p * d, 1));
  const i32 = np.astype(idx, 'int32');
  const wrapped = np.where(np.less(i32, 0), np.add(i32, np.array(shape.slice(0, k), { dtype: 'int32' })), i32);
  return { rows: np.sum(np.multiply(wrapped, np.array(strides, { dtype: 'int32' })), { axis: -1 }), k };
}

/** Writes (or adds) `rows` of `updates` into `data` viewed as `[rows, ...rest]`: ScatterND and ScatterElements. */
function scatterRows(data: Array, rows: Array, updates: Array, restShape: readonly number[], ctx: OpContext): Array {
  const n = data.size / restShape.reduce((p, d) => p * d, 1);
  const flat = np.reshape(data, [n, ...restShape]);
  const r = np.reshape(rows, [-1]);
  const u = np.reshape(updates, [r.shape[0], ...restShape]);
  const reduction = ctx.attrs.string('reduction', 'none');
  if (reduction === 'add') return np.reshape(P.scatterAdd(flat, r, u, 0), data.shape);
  const combine = { mul: np.multiply, max: np.maximum, min: np.minimum }[reduction];
  if (combine) {
    // Duplicate rows combine in turn, one update row at a time.
    const rowOf = np.reshape(np.arange(n, undefined, 1, { dtype: 'int32' }), [n, ...restShape.map(() => 1)]);
    let out = flat;
    for (let i = 0; i < r.shape[0]; i++) {
      const at = np.equal(rowOf, np.slice(r, i));
      out = np.where(at, combine(out, np.expandDims(np.slice(u, i), 0)), out);
    }
    return np.reshape(out, data.shape);
  }
  if (reduction !== 'none')
    throw new FluxionError(`${ctx.where}: reduction '${reduction}' is not supported (none, add, mul, max, min)`);
  const hit = np.greater(
    P.scatterAdd(np.zeros([n], { dtype: 'int32' }), r, np.ones([r.shape[0]], { dtype: 'int32' }), 0),
    0,
  );
  const kept = np.where(np.reshape(hit, [n, ...restShape.map(() => 1)]), np.zerosLike(flat), flat);
  return np.reshape(P.scatterAdd(kept, r, u, 0), data.shape);
}

/** ScatterElements: indices address single elements; every other coordinate is the position's own. */
function scatterElements(ins: (Array | undefined)[], ctx: OpContext): Array {
  const [data, idx, upd] = [need(ins, 0, ctx), need(ins, 1, ctx), need(ins, 2, ctx)];
  const a = axis(ctx.attrs.int('axis', 0), data.ndim);
  const coords = idx.shape.map((d, i) =>
    i === a
      ? np.astype(idx, 'int32')
      : np.broadcastTo(
          np.reshape(
            np.arange(d, undefined, 1, { dtype: 'int32' }),
            idx.shape.map((e, j) => (j === i ? e : 1)),
          ),
          idx.shape,
        ),
  );
  const tuples = np.stack(coords, { axis: -1 });
  const { rows } = linearIndex(tuples, data.shape, ctx);
  return scatterRows(data, rows, upd, [], ctx);
}

/** A window function of `size` points (periodic or symmetric), from cosine terms `a0 - a1 cos + a2 cos 2`. */
function cosineWindow(a: [number, number, number]): Op {
  return (ins, ctx) => {
    const size = known(ins[0], ctx, 'size')[0];
    const n = ctx.attrs.int('periodic', 1) ? size : size - 1;
    const t = np.multiply(np.arange(size), (2 * Math.PI) / n);
    const w = np.add(np.subtract(a[0], np.multiply(np.cos(t), a[1])), np.multiply(np.cos(np.multiply(t, 2)), a[2]));
    return [castTo(w, dtypeOf(ctx.attrs.int('output_datatype', 1), ctx))];
  };
}

/** Index of each padded position in the source axis, for reflect and edge padding. */
function padSource(n: number, lo: number, hi: number, mode: string): number[] {
  return globalThis.Array.from({ length: n + lo + hi }, (_, j) => {
    let i = j - lo;
    if (mode === 'edge') return Math.min(Math.max(i, 0), n - 1);
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  });
}

const asinLike = (x: Array) => np.arctan2(x, np.sqrt(np.subtract(1, np.square(x))));

/** Every supported operator. */
export const OPS: Record<string, Op> = {
  ...recurrentOps,
  ...resizeOps,
  ...signalOps,
  ...randomOps,
  ...visionOps,
  // ---- elementwise
  Add: binary(np.add),
  Sub: binary(np.subtract),
  Mul: binary(np.multiply),
  Div: binary((a, b) => (isInt(a.dtype) ? strict(P.div)(a, b) : np.divide(a, b))),
  Mod: (ins, ctx) => {
    const [a, b] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    return [ctx.attrs.int('fmod', 0) ? strict((x, y) => bind1(P.remP, [x, y]))(a, b) : np.remainder(a, b)];
  },
  Pow: binary((a, b) => {
    const f = isFloat(a.dtype) ? a.dtype : 'float32';
    return castTo(np.power(np.astype(a, f), np.astype(b, f)), a.dtype);
  }),
  Max: variadic(np.maximum),
  Min: variadic(np.minimum),
  Sum: variadic(np.add),
  Mean: (ins) => [
    np.divide(
      (ins.filter(Boolean) as Array[]).reduce((a, b) => np.add(a, b)),
      ins.filter(Boolean).length,
    ),
  ],
  Equal: binary(np.equal),
  Less: binary(np.less),
  LessOrEqual: binary(np.lessEqual),
  Greater: binary(np.greater),
  GreaterOrEqual: binary(np.greaterEqual),
  And: binary(np.logicalAnd),
  Or: binary(np.logicalOr),
  Xor: binary(np.logicalXor),
  Not: unary(np.logicalNot),
  BitwiseAnd: binary(np.bitwiseAnd),
  BitwiseOr: binary(np.bitwiseOr),
  BitwiseXor: binary(np.bitwiseXor),
  Where: (ins, ctx) => [np.where(need(ins, 0, ctx), need(ins, 1, ctx), need(ins, 2, ctx))],
  Abs: unary(np.abs),
  Neg: unary(np.negative),
  Exp: unary(np.exp),
  Log: unary(np.log),
  Sqrt: unary(np.sqrt),
  Reciprocal: unary(np.reciprocal),
  Sin: unary(np.sin),
  Cos: unary(np.cos),
  Tan: unary(np.tan),
  Tanh: unary(np.tanh),
  Sigmoid: unary(np.sigmoid),
  Erf: unary(np.erf),
  Floor: unary(np.floor),
  Ceil: unary(np.ceil),
  Round: unary(np.round),
  Sign: unary(np.sign),
  IsNaN: unary(np.isnan),
  IsInf: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const pos = ctx.attrs.int('detect_positive', 1),
      neg = ctx.attrs.int('detect_negative', 1);
    return [
      np.logicalOr(
        pos ? np.equal(x, Infinity) : np.zerosLike(x, { dtype: 'bool' }),
        neg ? np.equal(x, -Infinity) : np.zerosLike(x, { dtype: 'bool' }),
      ),
    ];
  },
  Relu: unary((x) => np.maximum(x, 0)),
  LeakyRelu: (ins, ctx) => [F.leakyRelu(need(ins, 0, ctx), ctx.attrs.float('alpha', 0.01))],
  PRelu: (ins, ctx) => {
    const [x, slope] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    return [np.where(np.less(x, 0), np.multiply(x, slope), x)];
  },
  Elu: (ins, ctx) => [F.elu(need(ins, 0, ctx), ctx.attrs.float('alpha', 1))],
  Selu: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const alpha = ctx.attrs.float('alpha', 1.67326319217681884765625),
      gamma = ctx.attrs.float('gamma', 1.05070102214813232421875);
    return [np.multiply(np.where(np.greater(x, 0), x, np.multiply(np.expm1(x), alpha)), gamma)];
  },
  ThresholdedRelu: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    return [np.where(np.greater(x, ctx.attrs.float('alpha', 1)), x, 0)];
  },
  Softplus: unary(F.softplus),
  Softsign: unary((x) => np.divide(x, np.add(np.abs(x), 1))),
  HardSigmoid: (ins, ctx) => [
    np.clip(np.add(np.multiply(need(ins, 0, ctx), ctx.attrs.float('alpha', 0.2)), ctx.attrs.float('beta', 0.5)), 0, 1),
  ],
  HardSwish: unary((x) => np.multiply(x, np.clip(np.add(np.divide(x, 6), 0.5), 0, 1))),
  Sinh: unary((x) => np.divide(np.subtract(np.exp(x), np.exp(np.negative(x))), 2)),
  Cosh: unary((x) => np.divide(np.add(np.exp(x), np.exp(np.negative(x))), 2)),
  Asinh: unary((x) => np.log(np.add(x, np.sqrt(np.add(np.square(x), 1))))),
  Acosh: unary((x) => np.log(np.add(x, np.sqrt(np.subtract(np.square(x), 1))))),
  Atanh: unary((x) => np.multiply(np.log(np.divide(np.add(1, x), np.subtract(1, x))), 0.5)),
  Asin: unary(asinLike),
  Acos: unary((x) => np.arctan2(np.sqrt(np.subtract(1, np.square(x))), x)),
  Atan: unary((x) => np.arctan2(x, np.onesLike(x))),
  Celu: (ins, ctx) => {
    const x = need(ins, 0, ctx),
      alpha = ctx.attrs.float('alpha', 1);
    return [np.add(np.maximum(x, 0), np.minimum(0, np.multiply(np.expm1(np.divide(x, alpha)), alpha)))];
  },
  Mish: unary((x) => np.multiply(x, np.tanh(F.softplus(x)))),
  Gelu: (ins, ctx) => [
    F.gelu(need(ins, 0, ctx), { approximate: ctx.attrs.string('approximate', 'none') as 'none' | 'tanh' }),
  ],
  Shrink: (ins, ctx) => {
    const x = need(ins, 0, ctx),
      bias = ctx.attrs.float('bias', 0),
      lambd = ctx.attrs.float('lambd', 0.5);
    return [
      castTo(
        np.where(np.less(x, -lambd), np.add(x, bias), np.where(np.greater(x, lambd), np.subtract(x, bias), 0)),
        x.dtype,
      ),
    ];
  },
  Dropout: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const ratio = ins[1] ? known(ins[1], ctx, 'ratio')[0] : 0.5;
    if (!(ratio >= 0 && ratio <= 1)) throw new FluxionError(`${ctx.where}: ratio must be in [0, 1], got ${ratio}`);
    // Inference (or ratio 0) passes x through; training keeps each element with probability 1 - ratio.
    if (!(ins[2] && known(ins[2], ctx, 'training_mode')[0] && ratio !== 0))
      return [x, ctx.outputs > 1 ? np.onesLike(x, { dtype: 'bool' }) : undefined];
    const keep = np.greaterEqual(random.uniform(ctx.key(), x.shape), ratio);
    const y = ratio === 1 ? np.zerosLike(x) : np.where(keep, np.divide(x, 1 - ratio), np.zerosLike(x));
    return [y.astype(x.dtype), ctx.outputs > 1 ? keep : undefined];
  },
  Clip: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    if (ctx.opset < 11)
      return [
        np.clip(x, ctx.attrs.float('min', -3.4028234663852886e38), ctx.attrs.float('max', 3.4028234663852886e38)),
      ];
    return [np.clip(x, ins[1] ?? null, ins[2] ?? null)];
  },
  Cast: (ins, ctx) => [castTo(need(ins, 0, ctx), dtypeOf(ctx.attrs.int('to'), ctx))],
  CastLike: (ins, ctx) => [castTo(need(ins, 0, ctx), need(ins, 1, ctx).dtype)],

  // ---- contractions
  MatMul: binary(np.matmul),
  Gemm: (ins, ctx) => {
    let a = need(ins, 0, ctx),
      b = need(ins, 1, ctx);
    if (ctx.attrs.int('transA', 0)) a = np.transpose(a);
    if (ctx.attrs.int('transB', 0)) b = np.transpose(b);
    let y = np.multiply(np.matmul(a, b), ctx.attrs.float('alpha', 1));
    if (ins[2]) y = np.add(y, np.multiply(ins[2], ctx.attrs.float('beta', 1)));
    return [y];
  },
  Einsum: (ins, ctx) => [np.einsum(ctx.attrs.string('equation').replace(/\s+/g, ''), ...(ins as Array[]))],

  // ---- shapes and data movement
  Reshape: (ins, ctx) => [
    reshapeTo(
      need(ins, 0, ctx),
      ctx.opset >= 5 ? known(ins[1], ctx, 'shape') : ctx.attrs.ints('shape'),
      ctx.attrs.int('allowzero', 0) === 1,
    ),
  ],
  Flatten: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const a = axis(ctx.attrs.int('axis', 1), x.ndim);
    return [
      np.reshape(x, [x.shape.slice(0, a).reduce((p, d) => p * d, 1), x.shape.slice(a).reduce((p, d) => p * d, 1)]),
    ];
  },
  Transpose: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    return [
      np.transpose(
        x,
        ctx.attrs.ints(
          'perm',
          x.shape.map((_, i) => x.ndim - 1 - i),
        ),
      ),
    ];
  },
  Squeeze: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const axes = ctx.opset >= 13 ? (ins[1] ? known(ins[1], ctx, 'axes') : []) : ctx.attrs.ints('axes', []);
    return [axes.length ? np.squeeze(x, { axis: axes.map((a) => axis(a, x.ndim)) }) : np.squeeze(x)];
  },
  Unsqueeze: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const axes = ctx.opset >= 13 ? known(ins[1], ctx, 'axes') : ctx.attrs.ints('axes');
    const rank = x.ndim + axes.length;
    const sorted = axes.map((a) => axis(a, rank)).sort((p, q) => p - q);
    const shape = [...x.shape];
    for (const a of sorted) shape.splice(a, 0, 1);
    return [np.reshape(x, shape)];
  },
  Concat: (ins, ctx) => {
    const xs = ins.filter(Boolean) as Array[];
    return [np.concatenate(xs, { axis: axis(ctx.attrs.int('axis'), xs[0].ndim) })];
  },
  Split: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const a = axis(ctx.attrs.int('axis', 0), x.ndim);
    const n = x.shape[a];
    let sizes = ctx.opset >= 13 ? (ins[1] ? known(ins[1], ctx, 'split') : []) : ctx.attrs.ints('split', []);
    if (!sizes.length) {
      const parts = ctx.attrs.int('num_outputs', ctx.outputs);
      const each = Math.ceil(n / parts);
      sizes = globalThis.Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, n - i * each)));
    }
    if (sizes.reduce((p, s) => p + s, 0) !== n)
      throw new FluxionError(`${ctx.where}: split sizes [${sizes}] do not add up to ${n}`);
    let at = 0;
    return sizes.map((s) => {
      const part = np.take(x, np.arange(at, at + s, 1, { dtype: 'int32' }), { axis: a });
      at += s;
      return part;
    });
  },
  Slice: (ins, ctx) => {
    let x = need(ins, 0, ctx);
    const old = ctx.opset < 10;
    const starts = old ? ctx.attrs.ints('starts') : known(ins[1], ctx, 'starts');
    const ends = old ? ctx.attrs.ints('ends') : known(ins[2], ctx, 'ends');
    const axes = (
      old
        ? ctx.attrs.ints(
            'axes',
            starts.map((_, i) => i),
          )
        : ins[3]
          ? known(ins[3], ctx, 'axes')
          : starts.map((_, i) => i)
    ).map((a) => axis(a, x.ndim));
    const steps = !old && ins[4] ? known(ins[4], ctx, 'steps') : starts.map(() => 1);
    axes.forEach((a, i) => {
      const d = x.shape[a],
        step = steps[i];
      if (step === 0) throw new FluxionError(`${ctx.where}: step 0 on axis ${a}`);
      const clampTo = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
      const start = step > 0 ? clampTo(starts[i], 0, d) : clampTo(starts[i], -1, d - 1);
      const end = step > 0 ? clampTo(ends[i], 0, d) : clampTo(ends[i], -1, d - 1);
      const idx: number[] = [];
      for (let k = start; step > 0 ? k < end : k > end; k += step) idx.push(k);
      if (idx.length === d && step === 1) return;
      x = np.take(x, np.array(idx, { dtype: 'int32' }), { axis: a });
    });
    return [x];
  },
  Gather: (ins, ctx) => {
    const [x, idx] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    const a = axis(ctx.attrs.int('axis', 0), x.ndim);
    const wrapped = np.where(np.less(idx, 0), np.add(idx, x.shape[a]), idx);
    return [np.take(x, np.astype(wrapped, 'int32'), { axis: a })];
  },
  GatherElements: (ins, ctx) => {
    const [x, idx] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    const a = axis(ctx.attrs.int('axis', 0), x.ndim);
    return [np.takeAlongAxis(x, np.astype(np.where(np.less(idx, 0), np.add(idx, x.shape[a]), idx), 'int32'), a)];
  },
  Expand: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const shape = known(ins[1], ctx, 'shape');
    const rank = Math.max(x.ndim, shape.length);
    const pad = (s: readonly number[]) => [...new globalThis.Array(rank - s.length).fill(1), ...s];
    const [xs, ts] = [pad(x.shape), pad(shape)];
    return [
      np.broadcastTo(
        np.reshape(x, xs),
        xs.map((d, i) => (d === 1 ? ts[i] : d)),
      ),
    ];
  },
  Tile: (ins, ctx) => [np.tile(need(ins, 0, ctx), known(ins[1], ctx, 'repeats'))],
  Shape: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    // start and end are slice bounds: clamped into [0, rank], negative ones counting from the end.
    const bound = (b: number) => Math.min(Math.max(b < 0 ? b + x.ndim : b, 0), x.ndim);
    const start = bound(ctx.attrs.int('start', 0)),
      end = bound(ctx.attrs.int('end', x.ndim));
    return [np.array(x.shape.slice(start, Math.max(start, end)), { dtype: 'int32' })];
  },
  Size: (ins, ctx) => [np.array(need(ins, 0, ctx).size, { dtype: 'int32' })],
  Constant: (_, ctx) => {
    const t = ctx.attrs.tensor('value');
    if (t) return [t];
    if (ctx.attrs.has('value_float')) return [np.array(ctx.attrs.float('value_float'))];
    if (ctx.attrs.has('value_floats')) return [np.array(ctx.attrs.floats('value_floats'))];
    if (ctx.attrs.has('value_int')) return [np.array(ctx.attrs.int('value_int'), { dtype: 'int32' })];
    if (ctx.attrs.has('value_ints')) return [np.array(ctx.attrs.ints('value_ints'), { dtype: 'int32' })];
    throw new FluxionError(`${ctx.where}: only tensor, float(s) and int(s) constants are supported`);
  },
  ConstantOfShape: (ins, ctx) => {
    const shape = known(ins[0], ctx, 'shape');
    const v = ctx.attrs.tensor('value');
    return [np.full(shape, v ? v.buffer[0] : 0, { dtype: v?.dtype ?? 'float32' })];
  },
  Range: (ins, ctx) => {
    const [start, limit, delta] = [
      known(ins[0], ctx, 'start')[0],
      known(ins[1], ctx, 'limit')[0],
      known(ins[2], ctx, 'delta')[0],
    ];
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    return [np.astype(np.add(np.multiply(np.arange(n), delta), start), need(ins, 0, ctx).dtype)];
  },
  Pad: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const mode = ctx.attrs.string('mode', 'constant');
    const pads = ctx.opset >= 11 ? known(ins[1], ctx, 'pads') : ctx.attrs.ints('pads');
    if (mode === 'reflect' || mode === 'edge') {
      const r = x.ndim;
      return [
        x.shape.reduce(
          (y, n, a) =>
            pads[a] || pads[r + a]
              ? np.take(y, np.array(padSource(n, pads[a], pads[r + a], mode), { dtype: 'int32' }), { axis: a })
              : y,
          x,
        ),
      ];
    }
    if (mode !== 'constant')
      throw new FluxionError(`${ctx.where}: pad mode '${mode}' is not supported (constant, reflect, edge)`);
    const value =
      ctx.opset >= 11 ? (ins[2] ? known(ins[2], ctx, 'constant_value')[0] : 0) : ctx.attrs.float('value', 0);
    const axes = ins[3] ? known(ins[3], ctx, 'axes').map((a) => axis(a, x.ndim)) : x.shape.map((_, i) => i);
    const pairs = x.shape.map(() => [0, 0]);
    axes.forEach((a, i) => (pairs[a] = [pads[i], pads[axes.length + i]]));
    if (pairs.some(([lo, hi]) => lo < 0 || hi < 0)) {
      const lo = pairs.map((p) => p[0]),
        hi = pairs.map((p) => p[1]);
      return [
        P.pad(
          x,
          lo,
          hi,
          lo.map(() => 0),
          value,
        ),
      ];
    }
    return [np.pad(x, pairs, { constantValues: value })];
  },
  DepthToSpace: depthSpace(true),
  SpaceToDepth: depthSpace(false),
  Trilu: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const k = ins[1] ? known(ins[1], ctx, 'k')[0] : 0;
    const [rows, cols] = x.shape.slice(-2);
    const i = np.reshape(np.arange(rows, undefined, 1, { dtype: 'int32' }), [rows, 1]),
      j = np.reshape(np.arange(cols, undefined, 1, { dtype: 'int32' }), [1, cols]);
    const d = np.subtract(j, i);
    const keep = ctx.attrs.int('upper', 1) ? np.greaterEqual(d, k) : np.lessEqual(d, k);
    return [np.where(keep, x, np.zerosLike(x))];
  },
  EyeLike: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const dtype = ctx.attrs.has('dtype') ? dtypeOf(ctx.attrs.int('dtype'), ctx) : x.dtype;
    return [np.eye(x.shape[0], x.shape[1], { k: ctx.attrs.int('k', 0), dtype })];
  },
  OneHot: (ins, ctx) => {
    const [idx, depthIn, values] = [need(ins, 0, ctx), need(ins, 1, ctx), need(ins, 2, ctx)];
    const depth = known(depthIn, ctx, 'depth')[0];
    const rank = idx.ndim + 1;
    const a = axis(ctx.attrs.int('axis', -1), rank);
    const wrapped = np.astype(np.where(np.less(idx, 0), np.add(idx, depth), idx), 'int32');
    const classes = np.reshape(
      np.arange(depth, undefined, 1, { dtype: 'int32' }),
      globalThis.Array.from({ length: rank }, (_, i) => (i === a ? depth : 1)),
    );
    const hit = np.equal(np.expandDims(wrapped, a), classes);
    const [off, on] = [
      np.take(values, np.array(0, { dtype: 'int32' })),
      np.take(values, np.array(1, { dtype: 'int32' })),
    ];
    return [np.where(hit, on, off)];
  },
  BitShift: (ins, ctx) => {
    const left = ctx.attrs.string('direction') === 'LEFT';
    const [x, y] = np.broadcastArrays(need(ins, 0, ctx), need(ins, 1, ctx));
    // Narrow unsigned types shift in uint32 words; a left shift keeps the dtype's low bits.
    const wide = castTo(x, 'uint32');
    const shifted = bind1(left ? P.shiftLeftP : P.shiftRightLogicalP, [wide, castTo(y, 'uint32')]);
    const bits = x.dtype === 'uint8' ? 0xff : x.dtype === 'uint16' ? 0xffff : null;
    return [castTo(bits === null ? shifted : np.bitwiseAnd(shifted, np.array(bits, { dtype: 'uint32' })), x.dtype)];
  },
  Det: unary((x) => np.linalg.det(x)),
  ScatterElements: (ins, ctx) => [scatterElements(ins, ctx)],
  Scatter: (ins, ctx) => [scatterElements(ins, ctx)],
  ScatterND: (ins, ctx) => {
    const [data, idx, upd] = [need(ins, 0, ctx), need(ins, 1, ctx), need(ins, 2, ctx)];
    const { rows, k } = linearIndex(idx, data.shape, ctx);
    return [scatterRows(data, rows, upd, data.shape.slice(k), ctx)];
  },
  GatherND: (ins, ctx) => {
    const [data, idx] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    // The leading batch_dims axes pair data with indices: each batch's tuples index its own slice.
    const b = ctx.attrs.int('batch_dims', 0);
    const { rows, k } = linearIndex(idx, data.shape.slice(b), ctx);
    const batches = sizeOf(data.shape.slice(0, b)),
      block = sizeOf(data.shape.slice(b, b + k));
    const offset = np.reshape(np.multiply(np.arange(batches, undefined, 1, { dtype: 'int32' }), block), [
      ...data.shape.slice(0, b),
      ...rows.shape.slice(b).map(() => 1),
    ]);
    const flat = np.reshape(data, [-1, ...data.shape.slice(b + k)]);
    return [np.take(flat, np.add(rows, offset), { axis: 0 })];
  },
  ReverseSequence: (ins, ctx) => {
    const [x, lens] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    const b = ctx.attrs.int('batch_axis', 1),
      t = ctx.attrs.int('time_axis', 0);
    const along = (v: Array, ax: number) =>
      np.reshape(
        v,
        x.shape.map((d, i) => (i === ax ? d : 1)),
      );
    const time = along(np.arange(x.shape[t], undefined, 1, { dtype: 'int32' }), t),
      len = along(np.astype(lens, 'int32'), b);
    const src = np.broadcastTo(np.where(np.less(time, len), np.subtract(np.subtract(len, 1), time), time), x.shape);
    return [np.takeAlongAxis(x, src, t)];
  },
  Compress: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const keep = known(ins[1], ctx, 'condition');
    const picked = np.array(
      keep.flatMap((c, i) => (c ? [i] : [])),
      { dtype: 'int32' },
    );
    if (!ctx.attrs.has('axis')) return [np.take(np.reshape(x, [-1]), picked, { axis: 0 })];
    const a = axis(ctx.attrs.int('axis'), x.ndim);
    return [
      np.take(
        x,
        np.array(
          keep.slice(0, x.shape[a]).flatMap((c, i) => (c ? [i] : [])),
          { dtype: 'int32' },
        ),
        { axis: a },
      ),
    ];
  },
  NonZero: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const v = known(x, ctx, 'X');
    const hits = v.flatMap((e, i) => (e ? [i] : []));
    const coords = x.shape.map((_, d) =>
      hits.map((i) => Math.floor(i / x.shape.slice(d + 1).reduce((p, q) => p * q, 1)) % x.shape[d]),
    );
    return [np.reshape(np.array(coords.flat(), { dtype: 'int32' }), [x.ndim, hits.length])];
  },
  HannWindow: cosineWindow([0.5, 0.5, 0]),
  HammingWindow: cosineWindow([25 / 46, 21 / 46, 0]),
  BlackmanWindow: cosineWindow([0.42, 0.5, 0.08]),
  CumSum: (ins, ctx) => {
    let x = need(ins, 0, ctx);
    const a = axis(known(ins[1], ctx, 'axis')[0], x.ndim);
    const reverse = ctx.attrs.int('reverse', 0),
      exclusive = ctx.attrs.int('exclusive', 0);
    if (reverse) x = np.flip(x, { axis: a });
    let y = np.cumsum(x, { axis: a });
    if (exclusive) y = np.subtract(y, x);
    return [castTo(reverse ? np.flip(y, { axis: a }) : y, x.dtype)];
  },

  // ---- reductions
  ReduceSum: reduce((x, o) => np.sum(x, o), 13),
  ReduceMean: reduce((x, o) => np.mean(x, o), 18),
  ReduceMax: reduce((x, o) => np.max(x, o), 18),
  ReduceMin: reduce((x, o) => np.min(x, o), 18),
  ReduceProd: reduce((x, o) => np.prod(x, o), 18),
  ReduceL1: reduce((x, o) => np.sum(np.abs(x), o), 18),
  ReduceL2: reduce((x, o) => np.sqrt(np.sum(np.square(x), o)), 18),
  ReduceSumSquare: reduce((x, o) => np.sum(np.square(x), o), 18),
  ReduceLogSum: reduce((x, o) => np.log(np.sum(x, o)), 18),
  ReduceLogSumExp: reduce((x, o) => np.logsumexp(x, o), 18),
  ArgMax: argReduce(np.argmax),
  ArgMin: argReduce(np.argmin),
  Hardmax: softmaxLike((x, a) =>
    np.astype(
      np.equal(
        np.expandDims(np.argmax(x, { axis: a }), a),
        np.reshape(
          np.arange(x.shape[a], undefined, 1, { dtype: 'int32' }),
          x.shape.map((d, i) => (i === a ? d : 1)),
        ),
      ),
      x.dtype,
    ),
  ),
  TopK: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const k = known(ins[1], ctx, 'K')[0];
    const a = axis(ctx.attrs.int('axis', -1), x.ndim);
    const order = np.argsort(x, { axis: a, descending: ctx.attrs.int('largest', 1) === 1 });
    const idx = np.take(order, np.arange(k, undefined, 1, { dtype: 'int32' }), { axis: a });
    return [np.takeAlongAxis(x, idx, a), idx];
  },
  NegativeLogLikelihoodLoss: (ins, ctx) => [nll(need(ins, 0, ctx), need(ins, 1, ctx), ins[2], ctx)],
  SoftmaxCrossEntropyLoss: (ins, ctx) => {
    const logProb = F.logSoftmax(need(ins, 0, ctx), 1);
    return [nll(logProb, need(ins, 1, ctx), ins[2], ctx), logProb];
  },
  Softmax: softmaxLike(F.softmax),
  LogSoftmax: softmaxLike(F.logSoftmax),

  // ---- neural network layers
  Conv: (ins, ctx) => {
    const [x, w] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    const kernel = w.shape.slice(2),
      r = kernel.length;
    const strides = ctx.attrs.ints(
        'strides',
        kernel.map(() => 1),
      ),
      dilation = ctx.attrs.ints(
        'dilations',
        kernel.map(() => 1),
      );
    const pads = windowPads(ctx, x.shape.slice(2), kernel, strides, dilation);
    const padded = pads.some(([lo, hi]) => lo || hi) ? np.pad(x, [[0, 0], [0, 0], ...pads]) : x;
    if (r < 1) throw new FluxionError(`${ctx.where}: weight ${w.shape} has no spatial axes`);
    return [F.conv(padded, w, ins[2], { stride: strides, dilation, groups: ctx.attrs.int('group', 1) })];
  },
  // Columns [N, C * block, L] summed back into images [N, C, ...image_shape]: Fluxion's fold.
  Col2Im: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const [image, block] = [known(ins[1], ctx, 'image_shape'), known(ins[2], ctx, 'block_shape')];
    const r = block.length,
      k = sizeOf(block);
    const strides = ctx.attrs.ints(
        'strides',
        block.map(() => 1),
      ),
      dilation = ctx.attrs.ints(
        'dilations',
        block.map(() => 1),
      );
    const p = ctx.attrs.ints('pads', new globalThis.Array(2 * r).fill(0));
    const padding = block.map((_, i): [number, number] => [p[i], p[r + i]]);
    const out = image.map(
      (s, i) => Math.floor((s + padding[i][0] + padding[i][1] - dilation[i] * (block[i] - 1) - 1) / strides[i]) + 1,
    );
    if (x.ndim !== 3 || image.length !== r || x.shape[1] % k !== 0 || x.shape[2] !== sizeOf(out))
      throw new FluxionError(
        `${ctx.where}: input ${fmtShape(x.shape)} is not [N, C * ${k}, ${sizeOf(out)}] columns of ` +
          `blocks ${fmtShape(block)} over image ${fmtShape(image)}`,
      );
    const patches = np.reshape(x, [x.shape[0], x.shape[1] / k, ...block, ...out]);
    return [P.fold(patches, { window: block, strides, dilation, padding, spatial: image })];
  },
  ConvTranspose: (ins, ctx) => {
    const [x, w] = [need(ins, 0, ctx), need(ins, 1, ctx)];
    const kernel = w.shape.slice(2),
      r = kernel.length,
      spatial = x.shape.slice(2);
    const strides = ctx.attrs.ints(
        'strides',
        kernel.map(() => 1),
      ),
      dilation = ctx.attrs.ints(
        'dilations',
        kernel.map(() => 1),
      );
    const outPad = ctx.attrs.ints(
      'output_padding',
      kernel.map(() => 0),
    );
    const full = spatial.map((s, i) => strides[i] * (s - 1) + outPad[i] + (kernel[i] - 1) * dilation[i] + 1);
    let pads: [number, number][];
    if (ctx.attrs.has('output_shape')) {
      const want = ctx.attrs.ints('output_shape').slice(-r);
      const upper = ctx.attrs.string('auto_pad', 'NOTSET') === 'SAME_UPPER';
      pads = full.map((f, i) => {
        const total = f - want[i];
        return upper
          ? [Math.floor(total / 2), total - Math.floor(total / 2)]
          : [total - Math.floor(total / 2), Math.floor(total / 2)];
      });
    } else if (ctx.attrs.string('auto_pad', 'NOTSET') !== 'NOTSET' && ctx.attrs.string('auto_pad') !== 'VALID') {
      const upper = ctx.attrs.string('auto_pad') === 'SAME_UPPER';
      pads = full.map((f, i) => {
        const total = f - spatial[i] * strides[i];
        return upper
          ? [Math.floor(total / 2), total - Math.floor(total / 2)]
          : [total - Math.floor(total / 2), Math.floor(total / 2)];
      });
    } else {
      const p = ctx.attrs.ints('pads', new globalThis.Array(2 * r).fill(0));
      pads = kernel.map((_, i) => [p[i], p[r + i]]);
    }
    // The full transposed convolution, then the padding cropped off each side (negative padding extends with zeros).
    const y = F.convTranspose(x, w, ins[2], {
      stride: strides,
      dilation,
      groups: ctx.attrs.int('group', 1),
      outputPadding: outPad,
    });
    return [
      P.pad(
        y,
        [0, 0, ...pads.map((q) => -q[0])],
        [0, 0, ...pads.map((q) => -q[1])],
        y.shape.map(() => 0),
        0,
      ),
    ];
  },
  MaxPool: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const p = poolParams(x, ctx);
    const windows = (v: Array, padValue: number) =>
      P.unfold(v, { window: p.window, strides: p.strides, padding: p.padding, dilation: p.dilation, padValue });
    const axes = windowAxes(x, p.r).map((a) => a - p.r);
    const y = P.reduceMax(windows(x, P.lowest(x.dtype)), axes);
    if (ctx.outputs < 2) return [y];
    // Indices: each maximum's flat position in x (row-major, or with the spatial axes column-major
    // for storage_order 1), the first one where a window ties.
    const lead = x.ndim - p.r,
      spatial = x.shape.slice(lead);
    const columnMajor = ctx.attrs.int('storage_order', 0) === 1;
    const spatialIndex = columnMajor
      ? np.transpose(
          np.reshape(np.arange(sizeOf(spatial), undefined, 1, { dtype: 'int32' }), [...spatial].reverse()),
          spatial.map((_, i) => p.r - 1 - i),
        )
      : np.reshape(np.arange(sizeOf(spatial), undefined, 1, { dtype: 'int32' }), spatial);
    const leadIndex = np.reshape(
      np.multiply(np.arange(sizeOf(x.shape.slice(0, lead)), undefined, 1, { dtype: 'int32' }), sizeOf(spatial)),
      [...x.shape.slice(0, lead), ...spatial.map(() => 1)],
    );
    const index = np.add(leadIndex, spatialIndex);
    const flatWindows = (v: Array, padValue: number) => {
      const w = windows(v, padValue);
      return np.reshape(w, [...w.shape.slice(0, lead), sizeOf(p.window), ...w.shape.slice(lead + p.r)]);
    };
    const first = np.argmax(flatWindows(x, P.lowest(x.dtype)), { axis: lead, keepdims: true });
    return [y, np.squeeze(np.takeAlongAxis(flatWindows(index, -1), first, lead), { axis: lead })];
  },
  AveragePool: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const p = poolParams(x, ctx);
    const axes = windowAxes(x, p.r).map((a) => a - p.r);
    const sums = P.reduceSum(
      P.unfold(x, { window: p.window, strides: p.strides, padding: p.padding, dilation: p.dilation, padValue: 0 }),
      axes,
    );
    // The divisor counts taps inside the input, or inside the declared padding too (never ceil mode's extra).
    const spatial = x.shape.slice(x.ndim - p.r);
    const include = ctx.attrs.int('count_include_pad', 0) === 1;
    const ones = np.ones(include ? spatial.map((s, i) => s + p.real[i][0] + p.real[i][1]) : spatial);
    const countPadding = include ? p.padding.map(([, hi], i): [number, number] => [0, hi - p.real[i][1]]) : p.padding;
    const counts = P.reduceSum(
      P.unfold(ones, {
        window: p.window,
        strides: p.strides,
        padding: countPadding,
        dilation: p.dilation,
        padValue: 0,
      }),
      p.window.map((_, i) => i),
    );
    return [np.divide(sums, counts)];
  },
  GlobalAveragePool: unary((x) => np.mean(x, { axis: x.shape.slice(2).map((_, i) => i + 2), keepdims: true })),
  GlobalMaxPool: unary((x) => np.max(x, { axis: x.shape.slice(2).map((_, i) => i + 2), keepdims: true })),
  BatchNormalization: (ins, ctx) => {
    const [x, scale, bias, mean, variance] = [0, 1, 2, 3, 4].map((i) => need(ins, i, ctx));
    const c = [x.shape[1], ...x.shape.slice(2).map(() => 1)];
    if (ctx.attrs.int('training_mode', 0)) {
      // Batch statistics normalise; the running statistics move toward them by (1 - momentum).
      const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
      const m = np.mean(x, { axis: axes }),
        v = np.mean(np.square(np.subtract(x, np.reshape(m, c))), { axis: axes });
      const momentum = ctx.attrs.float('momentum', 0.9),
        eps = ctx.attrs.float('epsilon', 1e-5);
      const y = np.add(
        np.multiply(
          np.divide(np.subtract(x, np.reshape(m, c)), np.sqrt(np.add(np.reshape(v, c), eps))),
          np.reshape(scale, c),
        ),
        np.reshape(bias, c),
      );
      return [
        y,
        np.add(np.multiply(mean, momentum), np.multiply(m, 1 - momentum)),
        np.add(np.multiply(variance, momentum), np.multiply(v, 1 - momentum)),
      ];
    }
    const inv = np.divide(
      np.reshape(scale, c),
      np.sqrt(np.add(np.reshape(variance, c), ctx.attrs.float('epsilon', 1e-5))),
    );
    return [np.add(np.multiply(np.subtract(x, np.reshape(mean, c)), inv), np.reshape(bias, c))];
  },
  InstanceNormalization: (ins, ctx) => {
    const [x, scale, bias] = [need(ins, 0, ctx), need(ins, 1, ctx), need(ins, 2, ctx)];
    const axes = x.shape.slice(2).map((_, i) => i + 2),
      c = [x.shape[1], ...axes.map(() => 1)];
    const centered = np.subtract(x, np.mean(x, { axis: axes, keepdims: true }));
    const std = np.sqrt(
      np.add(np.mean(np.square(centered), { axis: axes, keepdims: true }), ctx.attrs.float('epsilon', 1e-5)),
    );
    return [np.add(np.multiply(np.divide(centered, std), np.reshape(scale, c)), np.reshape(bias, c))];
  },
  MeanVarianceNormalization: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const axes = ctx.attrs.ints('axes', [0, 2, 3]).map((a) => axis(a, x.ndim));
    const centered = np.subtract(x, np.mean(x, { axis: axes, keepdims: true }));
    return [np.divide(centered, np.add(np.sqrt(np.mean(np.square(centered), { axis: axes, keepdims: true })), 1e-9))];
  },
  LRN: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const size = ctx.attrs.int('size'),
      alpha = ctx.attrs.float('alpha', 1e-4),
      beta = ctx.attrs.float('beta', 0.75),
      bias = ctx.attrs.float('bias', 1);
    const before = Math.floor((size - 1) / 2),
      after = Math.ceil((size - 1) / 2),
      channels = x.shape[1];
    const sq = np.pad(
      np.square(x),
      x.shape.map((_, i) => (i === 1 ? [before, after] : [0, 0])),
    );
    let sum = np.zerosLike(x);
    for (let k = 0; k < size; k++)
      sum = np.add(sum, np.take(sq, np.arange(k, k + channels, 1, { dtype: 'int32' }), { axis: 1 }));
    return [np.divide(x, np.power(np.add(np.multiply(sum, alpha / size), bias), beta))];
  },
  LayerNormalization: (ins, ctx) => {
    const x = need(ins, 0, ctx);
    const a = axis(ctx.attrs.int('axis', -1), x.ndim);
    const axes = x.shape.slice(a).map((_, i) => a + i);
    const mean = np.mean(x, { axis: axes, keepdims: true });
    const centered = np.subtract(x, mean);
    const invStd = np.reciprocal(
      np.sqrt(np.add(np.mean(np.square(centered), { axis: axes, keepdims: true }), ctx.attrs.float('epsilon', 1e-5))),
    );
    let y = np.multiply(np.multiply(centered, invStd), need(ins, 1, ctx));
    if (ins[2]) y = np.add(y, ins[2]);
    return [y, mean, invStd];
  },

  // ---- control flow: If is lax.cond (or the known branch), Loop is lax.whileLoop or lax.scan, Scan is lax.scan
  If: (ins, ctx) => {
    const [then, otherwise] = [ctx.attrs.graph('then_branch'), ctx.attrs.graph('else_branch')];
    if (!then || !otherwise) throw new FluxionError(`${ctx.where}: needs then_branch and else_branch`);
    const branch = (g: GraphProto) => () => ctx.run(g, new Map(ctx.env), ctx.opset) as Array[];
    const c = need(ins, 0, ctx).toConcrete();
    if (c) return branch(c.buffer[0] ? then : otherwise)();
    return cond(np.astype(need(ins, 0, ctx), 'bool'), branch(then), branch(otherwise));
  },
  Loop: (ins, ctx) => {
    const body = ctx.attrs.graph('body');
    if (!body) throw new FluxionError(`${ctx.where}: needs a body`);
    const carried = ins.slice(2) as Array[];
    const nScan = body.output.length - 1 - carried.length;
    const step = (i: Array, c: Array, vs: Array[]) => {
      const env = new Map(ctx.env);
      env.set(body.input[0].name, i);
      env.set(body.input[1].name, c);
      vs.forEach((v, k) => env.set(body.input[2 + k].name, v));
      return ctx.run(body, env, ctx.opset) as Array[];
    };
    const tripCount = ins[0] ? ins[0].toConcrete() : null;
    if (carried.some((v) => (v as OnnxValue) === null || globalThis.Array.isArray(v))) {
      // Sequences or optionals in the loop state: unrolled here, each condition a known value.
      const known = (v: OnnxValue | undefined, what: string) => {
        const c = v && !globalThis.Array.isArray(v) ? v.toConcrete() : null;
        if (!c) throw new FluxionError(`${ctx.where}: with sequences in its state, the ${what} must be known`);
        return Number(c.buffer[0]);
      };
      const trips = ins[0] ? known(ins[0], 'trip count') : Infinity;
      let going = ins[1] ? known(ins[1], 'condition') !== 0 : true;
      let vs = carried;
      const ys: Array[][] = [];
      for (let i = 0; i < trips && going; i++) {
        const out = step(np.array(i, { dtype: 'int32' }), np.array(going), vs);
        going = known(out[0], 'condition') !== 0;
        vs = out.slice(1, 1 + carried.length);
        out.slice(1 + carried.length).forEach((y, k) => (ys[k] ??= []).push(y));
      }
      return [...vs, ...ys.map((list) => np.stack(list))];
    }
    if (nScan > 0) {
      // Scan outputs need a known trip count and a loop that runs it to the end: lax.scan.
      if (!tripCount || ins[1]?.toConcrete()?.buffer[0] === 0)
        throw new FluxionError(`${ctx.where}: scan outputs need a constant trip count`);
      const n = Number(tripCount.buffer[0]);
      try {
        const [final, ys] = scan(
          (vs: Array[], i: Array) => {
            const out = step(i, np.array(true), vs);
            return [out.slice(1, 1 + carried.length), out.slice(1 + carried.length)];
          },
          carried,
          np.arange(n, undefined, 1, { dtype: 'int32' }),
        );
        return [...final, ...ys];
      } catch (e) {
        // A body whose shapes depend on the iteration number unrolls, each step with its number known.
        if (!(e instanceof FluxionError && /must be a constant/.test(e.message))) throw e;
        let vs = carried;
        const ys: Array[][] = [];
        for (let i = 0; i < n; i++) {
          const out = step(np.array(i, { dtype: 'int32' }), np.array(true), vs);
          vs = out.slice(1, 1 + carried.length);
          out.slice(1 + carried.length).forEach((y, k) => (ys[k] ??= []).push(y));
        }
        return [...vs, ...ys.map((list) => np.stack(list))];
      }
    }
    const limit = ins[0] ? np.astype(ins[0], 'int32') : null;
    const start = [np.array(0, { dtype: 'int32' }), ins[1] ? np.astype(ins[1], 'bool') : np.array(true), ...carried];
    const done = whileLoop(
      ([i, c]: Array[]) => (limit ? np.logicalAnd(c, np.less(i, limit)) : c),
      ([i, c, ...vs]: Array[]) => {
        const out = step(i, c, vs);
        return [np.add(i, 1), np.astype(out[0], 'bool'), ...out.slice(1)];
      },
      start,
    );
    return done.slice(2);
  },
  Scan: (ins, ctx) => {
    if (ctx.opset < 9)
      throw new FluxionError(`${ctx.where}: Scan before opset 9 (with sequence_lens) is not supported`);
    const body = ctx.attrs.graph('body');
    if (!body) throw new FluxionError(`${ctx.where}: needs a body`);
    const m = ctx.attrs.int('num_scan_inputs');
    const n = ins.length - m;
    const inAxes = ctx.attrs.ints('scan_input_axes', new globalThis.Array(m).fill(0)),
      inDirs = ctx.attrs.ints('scan_input_directions', new globalThis.Array(m).fill(0));
    const nOut = body.output.length - n;
    const outAxes = ctx.attrs.ints('scan_output_axes', new globalThis.Array(nOut).fill(0)),
      outDirs = ctx.attrs.ints('scan_output_directions', new globalThis.Array(nOut).fill(0));
    const xs = (ins.slice(n) as Array[]).map((x, k) => {
      const moved = np.moveaxis(x, axis(inAxes[k], x.ndim), 0);
      return inDirs[k] ? np.flip(moved, { axis: 0 }) : moved;
    });
    const [final, ys] = scan(
      (state: Array[], x: Array[]) => {
        const env = new Map(ctx.env);
        state.forEach((v, k) => env.set(body.input[k].name, v));
        x.forEach((v, k) => env.set(body.input[n + k].name, v));
        const out = ctx.run(body, env, ctx.opset) as Array[];
        return [out.slice(0, n), out.slice(n)];
      },
      ins.slice(0, n) as Array[],
      xs,
    );
    return [
      ...final,
      ...ys.map((y, k) => {
        const ordered = outDirs[k] ? np.flip(y, { axis: 0 }) : y;
        return np.moveaxis(ordered, 0, axis(outAxes[k], y.ndim));
      }),
    ];
  },
};
// The quantized convolutions reuse Conv's reading of pads, strides, dilations and groups.
Object.assign(OPS, quantizeOps(OPS.Conv));
