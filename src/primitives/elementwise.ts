/**
 * Elementwise primitives: unary math, binary arithmetic, comparisons, select, casts and
 * bitwise ops. Operands are strict: equal shapes and (except select's predicate) equal dtypes.
 * @module
 */
import { type Array, ConcreteArray, type ShapedArray } from '../core/array.js';
import {
  type DType,
  allocate,
  checkDType,
  coerce,
  dtypes as allDTypes,
  floatDTypes,
  intDTypes,
  computeDType,
  intRange,
  isFloat,
  isHalf,
} from '../core/dtype.js';
import { DTypeError } from '../core/errors.js';
import {
  type BatchDim,
  type OnnxEmitter,
  type Primitive,
  UndefinedPrimal,
  definePrimitive,
  symbolicZeros,
} from '../core/primitive.js';
import { type Shape, checkSameShapes, sizeOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { expectArity, expectSameDType } from './util.js';
import { broadcastInDim, broadcastInDimP, moveBatchAxis } from './views.js';

const floats = floatDTypes;
const numeric: DType[] = [...floatDTypes, ...intDTypes];
const integral: DType[] = [...intDTypes, 'bool'];
const signed: DType[] = [...floatDTypes, 'int32', 'int16', 'int8'];

/** Batching for any elementwise primitive: line every batch axis up at 0. */
function batchElementwise(prim: Primitive) {
  return (vals: Array[], dims: BatchDim[], params: any, size: number): [Array[], BatchDim[]] => {
    const moved = vals.map((v, i) => moveBatchAxis(v, dims[i], 0, size));
    return [[bind1(prim, moved, params)], [0]];
  };
}

/**
 * A CPU kernel for one elementwise function. Each kernel's loop is compiled separately
 * (new Function), so its call to `f` stays monomorphic and V8 inlines it.
 */
function kernel(f: (...xs: number[]) => number, arity: number, tag: string, outDType?: (d: DType) => DType) {
  const names = globalThis.Array.from({ length: arity }, (_, k) => `b${k}`);
  const args = names.map((b) => `${b}[i]`).join(', ');
  // The tag makes each kernel's source unique: V8 would otherwise share one compiled loop (and its
  // type feedback) among all kernels, and that loop's calls and element accesses go megamorphic.
  const loop = new Function(
    'f',
    `return (out, n, ${names.join(', ')}) => { for (let i = 0; i < n; i++) out[i] = f(${args}); }; // ${tag}`,
  )(f);
  return (inputs: ConcreteArray[]): ConcreteArray[] => {
    const x = inputs[0];
    const dtype = outDType ? outDType(x.dtype) : x.dtype;
    const n = x.size;
    const out = allocate(dtype, n);
    // Typed-array stores already round (float32) or wrap (int32/uint32); only bool needs 0/1.
    loop(out, n, ...inputs.map((v) => v.buffer));
    if (dtype === 'bool') for (let i = 0; i < n; i++) out[i] = out[i] ? 1 : 0;
    return [new ConcreteArray(out, x.shape, dtype)];
  };
}

interface ElementwiseSpec {
  name: string;
  arity: number;
  dtypes: readonly DType[];
  f: (...xs: number[]) => number;
  /** Per-dtype kernel override (integer division, unsigned shifts, ...). */
  fFor?: (d: DType) => (...xs: number[]) => number;
  out?: (d: DType) => DType;
  jvp?: (xs: Array[], ts: Array[], y: Array) => Array;
  linear?: boolean;
  transpose?: Primitive['transpose'];
  /** WGSL: an expression of the operands' expressions (helpers in kernels/wgsl.ts). */
  wgsl: (args: string[], dtypes: DType[]) => string;
  /** ONNX nodes computing the result; without them the primitive runs in JavaScript between ONNX segments. */
  onnx?: OnnxElementwise;
  /** A lowering tried first, from the operands' producers (undefined where it does not apply). */
  onnxFirst?: (
    e: OnnxEmitter,
    args: string[],
    avals: { ins: ShapedArray[]; outs: ShapedArray[] },
  ) => string | undefined;
}
/** The lowerings of an elementwise row. */
type Lowering = Pick<ElementwiseSpec, 'wgsl' | 'onnx'>;

const isF = isFloat;
const zeroOf = (d: DType) => (d === 'int32' ? '0i' : d === 'uint32' ? '0u' : '0.0');
/** An elementwise ONNX lowering: nodes from the operands' value names and dtypes. */
type OnnxElementwise = (e: OnnxEmitter, a: string[], d: DType[]) => string;
/**
 * Integer division and remainder never reach the CPU's divide instruction with a divisor that
 * traps (0, and -1 for int32's most negative value): 0 gives 0, as in the JavaScript kernel, and
 * -1 gives `byMinusOne(a)` (negation, which wraps; remainder 0).
 */
const guardDivisor =
  (
    op: (e: OnnxEmitter, a: string, b: string) => string,
    byMinusOne: (e: OnnxEmitter, a: string, d: DType) => string,
  ): OnnxElementwise =>
  (e, [a, b], [d]) => {
    if (isF(d)) return op(e, a, b);
    const zero = e.op('Equal', [b, e.constant(0, d)]);
    const minusOne = d === 'int32' ? e.op('Equal', [b, e.constant(-1, d)]) : null;
    const traps = minusOne ? e.op('Or', [zero, minusOne]) : zero;
    const safe = op(e, a, e.op('Where', [traps, e.constant(1, d), b]));
    const special = minusOne ? e.op('Where', [minusOne, byMinusOne(e, a, d), safe]) : safe;
    return e.op('Where', [zero, e.constant(0, d), special]);
  };
const nanAware =
  (type: 'Max' | 'Min', boolType: 'Or' | 'And'): OnnxElementwise =>
  (e, [a, b], [d]) => {
    if (d === 'bool') return e.op(boolType, [a, b]);
    if (!isF(d)) return e.op(type, [a, b]);
    // NaN wins, as in the JavaScript kernel: a + b is NaN whenever either is.
    const nan = e.op('Or', [e.op('IsNaN', [a]), e.op('IsNaN', [b])]);
    return e.op('Where', [nan, e.op('Add', [a, b]), e.op(type, [a, b])]);
  };
const unaryOnnx =
  (type: string): OnnxElementwise =>
  (e, [a]) =>
    e.op(type, [a]);
const binaryOnnx =
  (type: string): OnnxElementwise =>
  (e, [a, b]) =>
    e.op(type, [a, b]);
const bitwise =
  (boolType: string, intType: string): OnnxElementwise =>
  (e, a, [d]) =>
    e.op(d === 'bool' ? boolType : intType, a);

/**
 * ONNX broadcasts elementwise operands itself: an operand made by broadcast_in_dim enters at its own
 * size (rank-aligned by a Reshape) while another operand still carries the full shape, so the
 * expanded copy is never materialised.
 */
/** Is a lowered value zero everywhere (the constant 0, or a broadcast of it)? */
function isZero(e: OnnxEmitter, name: string, dtype: DType): boolean {
  const p = e.producer(name);
  const scalar = p?.prim === broadcastInDimP ? p.inputs[0] : name;
  return scalar === e.constant(0, dtype);
}

function leanOperands(e: OnnxEmitter, args: string[], shapes: readonly Shape[] = []): { name: string; shape: Shape }[] {
  const lean = args.map((a) => {
    const p = e.producer(a);
    if (p?.prim !== broadcastInDimP) return undefined;
    const { shape, dims } = p.params as { shape: readonly number[]; dims: readonly number[] };
    const from = p.inAvals[0].shape;
    const aligned = shape.map(() => 1);
    dims.forEach((d, i) => (aligned[d] = from[i]));
    // ONNX broadcasting aligns trailing axes: a Reshape is needed only to insert inner unit axes.
    const lead = aligned.length - from.length;
    const trailing = lead >= 0 && aligned.every((d, i) => (i < lead ? d === 1 : d === from[i - lead]));
    return trailing
      ? { name: p.inputs[0], shape: from }
      : { name: e.op('Reshape', [p.inputs[0], e.ints(aligned)], { allowzero: 1 }), shape: aligned };
  });
  if (!lean.includes(undefined)) lean[0] = undefined;
  return args.map((a, i) => lean[i] ?? { name: a, shape: shapes[i] ?? [] });
}

/** Per-channel sums whose spans (the elements after the channel axis) are at most this long lower as BatchNormalization. */
const CHANNEL_SPANS_UP_TO = 64;

/**
 * `x ± b` with `b` one value per channel (axis 1) of a float32 `x` with small images, as ONNX's
 * inference-mode `BatchNormalization` (scale 1, variance 1, epsilon 0; `b` its bias, or for `x - b`
 * its mean): exactly the sum for every value, zeros of either sign, NaN and infinities included
 * (with an infinite or negative scale it would not be exact, so products stay `Mul`). ONNX
 * Runtime's `Add` broadcasts one short span at a time: on [4, 1024, 4, 4] it took 48 µs, the batch
 * norm 21 (2x2 images: 23-67 µs against 13-24). Where the spans are long, `Add` is as fast or
 * faster (32x32: 37 µs against 61).
 */
const perChannelSum =
  (sign: 1 | -1): ElementwiseSpec['onnxFirst'] =>
  (e, args, { outs: [out] }) => {
    const [n, c, ...image] = out.shape;
    if (
      e.portable ||
      out.dtype !== 'float32' ||
      image.length === 0 ||
      sizeOf(image) > CHANNEL_SPANS_UP_TO ||
      n * c === 0
    )
      return undefined;
    // The operand broadcast from one value per channel, and the other, which must be whole.
    const channelValues = (name: string) => {
      const p = e.producer(name);
      if (p?.prim !== broadcastInDimP) return undefined;
      const { dims } = p.params as { dims: readonly number[] };
      const from = p.inAvals[0].shape;
      return from.every((d, i) => d === 1 || (dims[i] === 1 && d === c)) && sizeOf(from) === c
        ? p.inputs[0]
        : undefined;
    };
    const whole = (k: number) => e.producer(args[k])?.prim !== broadcastInDimP;
    const k =
      channelValues(args[1]) !== undefined && whole(0)
        ? 1
        : sign === 1 && channelValues(args[0]) !== undefined && whole(1)
          ? 0
          : -1;
    if (k < 0) return undefined;
    const vector = e.op('Reshape', [channelValues(args[k])!, e.ints([c])]);
    let memo = filledVectors.get(e);
    if (!memo) filledVectors.set(e, (memo = new Map()));
    const filled = (v: number) => {
      const key = `${Object.is(v, -0) ? '-0' : v}:${c}`;
      let name = memo.get(key);
      if (name === undefined) memo.set(key, (name = e.constant(new Float32Array(c).fill(v), 'float32', [c])));
      return name;
    };
    // x + b is x·1 + b; x - b is (x - b)·1 + -0, b as the mean: exact for zeros of either sign.
    const [shift, mean] = sign === 1 ? [vector, filled(0)] : [filled(-0), vector];
    return e.op(
      'BatchNormalization',
      [args[1 - k], filled(1), shift, mean, filled(1)],
      { epsilon: { f: 0 } },
      out.shape,
    );
  };

/** Constant vectors of ones and zeros made per lowering, by `${value}:${length}`. */
const filledVectors = new WeakMap<OnnxEmitter, Map<string, string>>();

/** Elements from which an elementwise op's trailing unit axes are dropped around it (see lowerToOnnx). */
const STRIP_UNIT_AXES_FROM = 1 << 14;

const lowerToOnnx = (rule: OnnxElementwise | undefined, first?: ElementwiseSpec['onnxFirst']): Primitive['onnx'] =>
  rule &&
  ((e, args, _, avals) => {
    const special = first?.(e, args, avals);
    if (special !== undefined) return [special];
    const {
      ins,
      outs: [out],
    } = avals;
    const dtypes = ins.map((a) => a.dtype);
    const operands = leanOperands(
      e,
      args,
      ins.map((a) => a.shape),
    );
    // ONNX Runtime's elementwise kernels crawl over trailing unit axes (a [2048, 1024, 1, 1] weight
    // of a 1x1 convolution takes 10x as long as [2048, 1024]), so those axes are dropped around a
    // large op. On a small one (batch norm's per-channel [1, C, 1, 1] statistics) the reshapes
    // would cost more than they save.
    let units = 0;
    if (sizeOf(out.shape) >= STRIP_UNIT_AXES_FROM)
      while (units < out.shape.length - 1 && out.shape[out.shape.length - 1 - units] === 1) units++;
    if (units === 0)
      return [
        rule(
          e,
          operands.map((o) => o.name),
          dtypes,
        ),
      ];
    // Each value is stripped once, and a chain of such ops passes its stripped values along.
    let memo = stripped.get(e);
    if (!memo) stripped.set(e, (memo = new Map()));
    const strip = ({ name, shape }: { name: string; shape: Shape }) => {
      if (shape.length === 0) return name;
      const key = `${name}/${units}`;
      let s = memo.get(key);
      if (s === undefined)
        memo.set(key, (s = e.op('Reshape', [name, e.ints(shape.slice(0, Math.max(0, shape.length - units)))])));
      return s;
    };
    const y = rule(e, operands.map(strip), dtypes);
    const restored = e.op('Reshape', [y, e.ints(out.shape)]);
    memo.set(`${restored}/${units}`, y);
    return [restored];
  });
/** Values with their trailing unit axes dropped, per lowering: `${name}/${axes dropped}` -> the dropped value. */
const stripped = new WeakMap<OnnxEmitter, Map<string, string>>();

function elementwise(spec: ElementwiseSpec): Primitive {
  const kernels = new Map<DType, ReturnType<typeof kernel>>();
  const prim: Primitive = definePrimitive({
    name: spec.name,
    props: { elementwise: true, linear: spec.linear },
    abstractEval(avals: ShapedArray[]) {
      expectArity(spec.name, avals, spec.arity);
      checkSameShapes(
        spec.name,
        avals.map((a) => a.shape),
      );
      const d = expectSameDType(spec.name, avals);
      checkDType(spec.name, d, spec.dtypes);
      return [{ shape: avals[0].shape, dtype: spec.out ? spec.out(d) : d }];
    },
    impl(inputs) {
      const d = inputs[0].dtype;
      let k = kernels.get(d);
      if (!k)
        kernels.set(d, (k = kernel(spec.fFor ? spec.fFor(d) : spec.f, spec.arity, `${spec.name} ${d}`, spec.out)));
      return k(inputs);
    },
    jvp: spec.jvp
      ? (xs, ts) => {
          const y = bind1(prim, xs);
          return [[y], [spec.jvp!(xs, ts, y)]];
        }
      : undefined,
    batch: (vals, dims, params, size) => batchElementwise(prim)(vals, dims, params, size),
    transpose: spec.transpose,
    wgsl: spec.wgsl,
    onnx: lowerToOnnx(spec.onnx, spec.onnxFirst),
  });
  return prim;
}

// ---------------------------------------------------------------- strict constructors

/** A 0-d array holding `v` (a weak constant inside rules). */
export const scalar = (v: number, dtype: DType): Array => ConcreteArray.scalar(v, dtype);
/** `v` broadcast to the shape and dtype of `like`. */
export const fullLike = (like: ShapedArray, v: number): Array => broadcastInDim(scalar(v, like.dtype), like.shape, []);
export const zerosLike = (like: ShapedArray): Array => fullLike(like, 0);

// ---------------------------------------------------------------- unary math

const unary = (name: string, f: (x: number) => number, jvp: ElementwiseSpec['jvp'], lowering: Lowering) =>
  elementwise({ name, arity: 1, dtypes: floats, f, jvp, ...lowering });

export const negP = elementwise({
  name: 'neg',
  arity: 1,
  dtypes: numeric,
  f: (x) => -x,
  linear: true,
  jvp: (_, [t]) => neg(t),
  transpose: ([ct]) => [neg(ct)],
  wgsl: ([a], [d]) => (d === 'uint32' ? `(0u - ${a})` : `(-${a})`),
  onnx: unaryOnnx('Neg'),
});
export const expP = unary('exp', Math.exp, (_, [t], y) => mul(t, y), {
  wgsl: ([a]) => `exp(${a})`,
  onnx: unaryOnnx('Exp'),
});
export const logP = unary('log', Math.log, ([x], [t]) => div(t, x), {
  wgsl: ([a]) => `log(${a})`,
  onnx: unaryOnnx('Log'),
});
export const log1pP = unary('log1p', Math.log1p, ([x], [t]) => div(t, add(x, fullLike(x, 1))), {
  wgsl: ([a]) => `log1p_(${a})`,
  // log1p and expm1 keep their accuracy near 0 by the classic correction u = 1 + x, log(u) * x / (u - 1).
  onnx: (e, [a], [d]) => {
    const u = e.op('Add', [a, e.constant(1, d)]);
    const um1 = e.op('Sub', [u, e.constant(1, d)]);
    const exact = e.op('Equal', [um1, e.constant(0, d)]);
    // log(u) * (x / (u - 1)): the ratio is near 1, so large x cannot overflow the product.
    const corrected = e.op('Mul', [e.op('Log', [u]), e.op('Div', [a, e.op('Where', [exact, e.constant(1, d), um1])])]);
    const big = e.op('IsInf', [a]);
    return e.op('Where', [exact, a, e.op('Where', [big, e.op('Log', [u]), corrected])]);
  },
});
export const expm1P = unary('expm1', Math.expm1, (_, [t], y) => mul(t, add(y, fullLike(y, 1))), {
  wgsl: ([a]) => `expm1_(${a})`,
  onnx: (e, [a], [d]) => {
    const u = e.op('Exp', [a]);
    const um1 = e.op('Sub', [u, e.constant(1, d)]);
    const exact = e.op('Equal', [um1, e.constant(0, d)]);
    const logu = e.op('Log', [u]);
    const corrected = e.op('Mul', [um1, e.op('Div', [a, e.op('Where', [exact, e.constant(1, d), logu])])]);
    const plain = e.op('Or', [e.op('Equal', [um1, e.constant(-1, d)]), e.op('IsInf', [u])]);
    return e.op('Where', [exact, a, e.op('Where', [plain, um1, corrected])]);
  },
});
export const sinP = unary('sin', Math.sin, ([x], [t]) => mul(t, cos(x)), {
  wgsl: ([a]) => `sin(${a})`,
  onnx: unaryOnnx('Sin'),
});
export const cosP = unary('cos', Math.cos, ([x], [t]) => neg(mul(t, sin(x))), {
  wgsl: ([a]) => `cos(${a})`,
  onnx: unaryOnnx('Cos'),
});
export const tanhP = unary('tanh', Math.tanh, (_, [t], y) => mul(t, sub(fullLike(y, 1), mul(y, y))), {
  wgsl: ([a]) => `tanh_(${a})`,
  onnx: unaryOnnx('Tanh'),
});
export const logisticP = unary(
  'logistic',
  (x) => 1 / (1 + Math.exp(-x)),
  (_, [t], y) => mul(t, mul(y, sub(fullLike(y, 1), y))),
  {
    wgsl: ([a]) => `(1.0 / (1.0 + exp(-${a})))`,
    onnx: unaryOnnx('Sigmoid'),
  },
);
export const sqrtP = unary('sqrt', Math.sqrt, (_, [t], y) => div(t, mul(y, fullLike(y, 2))), {
  wgsl: ([a]) => `sqrt(${a})`,
  onnx: unaryOnnx('Sqrt'),
});
export const rsqrtP = unary(
  'rsqrt',
  (x) => 1 / Math.sqrt(x),
  ([x], [t], y) => mul(t, mul(div(y, x), fullLike(y, -0.5))),
  {
    wgsl: ([a]) => `inverseSqrt(${a})`,
    onnx: (e, [a]) => e.op('Reciprocal', [e.op('Sqrt', [a])]),
  },
);
export const erfP = unary(
  'erf',
  erfImpl,
  ([x], [t]) => mul(t, mul(fullLike(x, 2 / Math.sqrt(Math.PI)), exp(neg(mul(x, x))))),
  {
    wgsl: ([a]) => `erf_(${a})`,
    onnx: unaryOnnx('Erf'),
  },
);
export const erfInvP = unary(
  'erf_inv',
  erfInvImpl,
  (_, [t], y) => mul(t, mul(fullLike(y, Math.sqrt(Math.PI) / 2), exp(mul(y, y)))),
  {
    wgsl: ([a]) => `erfinv_(${a})`,
  },
);
export const absP = elementwise({
  name: 'abs',
  arity: 1,
  dtypes: signed,
  f: Math.abs,
  jvp: ([x], [t]) => mul(t, sign(x)),
  wgsl: ([a]) => `abs(${a})`,
  onnx: unaryOnnx('Abs'),
});
export const signP = elementwise({
  name: 'sign',
  arity: 1,
  dtypes: numeric,
  f: (x) => (x > 0 ? 1 : x < 0 ? -1 : x),
  jvp: ([x]) => zerosLike(x),
  wgsl: ([a], [d]) => (d === 'uint32' ? `select(0u, 1u, ${a} > 0u)` : `sign(${a})`),
  onnx: unaryOnnx('Sign'),
});
export const floorP = unary('floor', Math.floor, ([x]) => zerosLike(x), {
  wgsl: ([a]) => `floor(${a})`,
  onnx: unaryOnnx('Floor'),
});
export const ceilP = unary('ceil', Math.ceil, ([x]) => zerosLike(x), {
  wgsl: ([a]) => `ceil(${a})`,
  onnx: unaryOnnx('Ceil'),
});
/** Rounds half to even, as numpy and JAX do. */
export const roundP = unary(
  'round',
  (x) => {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  },
  ([x]) => zerosLike(x),
  {
    wgsl: ([a]) => `round(${a})`,
    onnx: unaryOnnx('Round'),
  },
);
export const isFiniteP = elementwise({
  name: 'is_finite',
  arity: 1,
  dtypes: floats,
  f: (x) => (Number.isFinite(x) ? 1 : 0),
  out: () => 'bool',
  wgsl: ([a]) => `isfinite_(${a})`,
  onnx: (e, [a]) => e.op('Not', [e.op('Or', [e.op('IsInf', [a]), e.op('IsNaN', [a])])]),
});

// ---------------------------------------------------------------- binary arithmetic

const transposeAdd: Primitive['transpose'] = ([ct], [x, y]) => [isUndefined(x) ? ct : null, isUndefined(y) ? ct : null];
const isUndefined = (x: unknown): x is UndefinedPrimal => x instanceof UndefinedPrimal;

export const addP = elementwise({
  name: 'add',
  arity: 2,
  dtypes: allDTypes.filter((d) => d !== 'bool'),
  f: (a, b) => a + b,
  linear: true,
  jvp: (_, [tx, ty]) => add(tx, ty),
  transpose: transposeAdd,
  wgsl: ([a, b]) => `(${a} + ${b})`,
  onnx: binaryOnnx('Add'),
  onnxFirst: perChannelSum(1),
});
export const subP = elementwise({
  name: 'sub',
  arity: 2,
  dtypes: numeric,
  f: (a, b) => a - b,
  linear: true,
  jvp: (_, [tx, ty]) => sub(tx, ty),
  transpose: ([ct], [x, y]) => [isUndefined(x) ? ct : null, isUndefined(y) ? neg(ct) : null],
  wgsl: ([a, b]) => `(${a} - ${b})`,
  onnx: binaryOnnx('Sub'),
  onnxFirst: perChannelSum(-1),
});
export const mulP = elementwise({
  name: 'mul',
  arity: 2,
  dtypes: numeric,
  f: (a, b) => a * b,
  fFor: (d) => (isFloat(d) ? (a, b) => a * b : (a, b) => Math.imul(a, b)),
  linear: true,
  jvp: ([x, y], [tx, ty]) => add(mul(tx, y), mul(x, ty)),
  transpose: ([ct], [x, y]) => {
    if (isUndefined(x) && isUndefined(y))
      throw new DTypeError('mul: transpose of a product of two linear values (the graph is not linear)');
    return isUndefined(x) ? [mul(ct, y as Array), null] : [null, mul(x as Array, ct)];
  },
  wgsl: ([a, b]) => `(${a} * ${b})`,
  onnx: binaryOnnx('Mul'),
});
export const divP = elementwise({
  name: 'div',
  arity: 2,
  dtypes: numeric,
  f: (a, b) => a / b,
  fFor: (d) => (isFloat(d) ? (a, b) => a / b : (a, b) => (b === 0 ? 0 : Math.trunc(a / b))),
  linear: true,
  jvp: ([, y], [tx, ty], out) => sub(div(tx, y), mul(ty, div(out, y))),
  transpose: ([ct], [, y]) => {
    if (isUndefined(y)) throw new DTypeError('div: transpose with respect to the divisor (not linear)');
    return [div(ct, y as Array), null];
  },
  wgsl: ([a, b], [d]) => (isF(d) ? `(${a} / ${b})` : `select(${a} / ${b}, ${zeroOf(d)}, ${b} == ${zeroOf(d)})`),
  onnx: guardDivisor(
    (e, a, b) => e.op('Div', [a, b]),
    (e, a, d) => e.op('Sub', [e.constant(0, d), a]),
  ),
});
/** C-style remainder: the sign follows the dividend (lax.rem). */
export const remP = elementwise({
  name: 'rem',
  arity: 2,
  dtypes: numeric,
  f: (a, b) => a % b,
  fFor: (d) => (isFloat(d) ? (a, b) => a % b : (a, b) => (b === 0 ? 0 : a % b)),
  jvp: ([x, y], [tx, ty]) => sub(tx, mul(ty, truncate(div(x, y)))),
  wgsl: ([a, b], [d]) => (isF(d) ? `(${a} % ${b})` : `select(${a} % ${b}, ${zeroOf(d)}, ${b} == ${zeroOf(d)})`),
  onnx: guardDivisor(
    (e, a, b) => e.op('Mod', [a, b], { fmod: 1 }),
    (e, _, d) => e.constant(0, d),
  ),
});
export const powP = elementwise({
  name: 'pow',
  arity: 2,
  dtypes: floats,
  // C's pow, as numpy and XLA: 1 to any power is 1 (NaN included) and -1 to an infinite power is 1; JS says NaN.
  f: (a, b) => (a === 1 || (a === -1 && (b === Infinity || b === -Infinity)) ? 1 : Math.pow(a, b)),
  jvp: ([x, y], [tx, ty], out) => {
    // d/dx = y x^(y-1); d/dy = log(x) x^y, taken as 0 where x == 0 (as JAX does).
    const dx = mul(tx, mul(y, pow(x, sub(y, fullLike(y, 1)))));
    if (symbolicZeros.has(ty)) return dx; // a constant exponent: skip log(x), NaN for x < 0
    const safeLog = select(eq(x, zerosLike(x)), zerosLike(x), log(x));
    return add(dx, mul(ty, mul(out, safeLog)));
  },
  wgsl: ([a, b]) => `pow_(${a}, ${b})`,
  onnx: binaryOnnx('Pow'),
});
// max/min split the tangent evenly at ties, as JAX does.
const minmaxJvp =
  (pick: (x: Array, y: Array) => Array) =>
  ([x, y]: Array[], [tx, ty]: Array[]) => {
    const half = fullLike(tx, 0.5);
    const xWins = cast(pick(x, y), x.dtype);
    const tie = cast(eq(x, y), x.dtype);
    const wx = add(xWins, mul(tie, half));
    const wy = sub(fullLike(wx, 1), wx);
    return add(mul(tx, wx), mul(ty, wy));
  };
export const maxP = elementwise({
  name: 'max',
  arity: 2,
  dtypes: [...numeric, 'bool'],
  f: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  jvp: minmaxJvp(gt),
  wgsl: ([a, b], [d]) => (d === 'bool' ? `(${a} || ${b})` : isF(d) ? `max_(${a}, ${b})` : `max(${a}, ${b})`),
  onnx: nanAware('Max', 'Or'),
});
export const minP = elementwise({
  name: 'min',
  arity: 2,
  dtypes: [...numeric, 'bool'],
  f: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  jvp: minmaxJvp(lt),
  wgsl: ([a, b], [d]) => (d === 'bool' ? `(${a} && ${b})` : isF(d) ? `min_(${a}, ${b})` : `min(${a}, ${b})`),
  onnx: nanAware('Min', 'And'),
});
export const atan2P = elementwise({
  name: 'atan2',
  arity: 2,
  dtypes: floats,
  f: Math.atan2,
  jvp: ([x, y], [tx, ty]) => div(sub(mul(tx, y), mul(ty, x)), add(mul(x, x), mul(y, y))),
  wgsl: ([a, b]) => `atan2(${a}, ${b})`,
});

// ---------------------------------------------------------------- comparisons and logic

const compare = (name: string, f: (a: number, b: number) => boolean, lowering: Lowering) =>
  elementwise({
    name,
    arity: 2,
    dtypes: [...numeric, 'bool'],
    f: (a, b) => (f(a, b) ? 1 : 0),
    out: () => 'bool',
    ...lowering,
  });
export const eqP = compare('eq', (a, b) => a === b, {
  wgsl: ([a, b]) => `(${a} == ${b})`,
  onnx: binaryOnnx('Equal'),
});
export const neP = compare('ne', (a, b) => a !== b, {
  wgsl: ([a, b]) => `(${a} != ${b})`,
  onnx: (e, a) => e.op('Not', [e.op('Equal', a)]),
});
export const ltP = compare('lt', (a, b) => a < b, {
  wgsl: ([a, b]) => `(${a} < ${b})`,
  onnx: binaryOnnx('Less'),
});
export const leP = compare('le', (a, b) => a <= b, {
  wgsl: ([a, b]) => `(${a} <= ${b})`,
  onnx: binaryOnnx('LessOrEqual'),
});
export const gtP = compare('gt', (a, b) => a > b, {
  wgsl: ([a, b]) => `(${a} > ${b})`,
  onnx: binaryOnnx('Greater'),
});
export const geP = compare('ge', (a, b) => a >= b, {
  wgsl: ([a, b]) => `(${a} >= ${b})`,
  onnx: binaryOnnx('GreaterOrEqual'),
});

// Bitwise ops act on bool, int32 and uint32 (threefry's building blocks).
export const andP = elementwise({
  name: 'and',
  arity: 2,
  dtypes: integral,
  f: (a, b) => a & b,
  wgsl: ([a, b], [d]) => (d === 'bool' ? `(${a} && ${b})` : `(${a} & ${b})`),
  onnx: bitwise('And', 'BitwiseAnd'),
});
export const orP = elementwise({
  name: 'or',
  arity: 2,
  dtypes: integral,
  f: (a, b) => a | b,
  wgsl: ([a, b], [d]) => (d === 'bool' ? `(${a} || ${b})` : `(${a} | ${b})`),
  onnx: bitwise('Or', 'BitwiseOr'),
});
export const xorP = elementwise({
  name: 'xor',
  arity: 2,
  dtypes: integral,
  f: (a, b) => a ^ b,
  wgsl: ([a, b], [d]) => (d === 'bool' ? `(${a} != ${b})` : `(${a} ^ ${b})`),
  onnx: bitwise('Xor', 'BitwiseXor'),
});
export const notP = elementwise({
  name: 'not',
  arity: 1,
  dtypes: integral,
  f: (a) => ~a,
  fFor: (d) => (d === 'bool' ? (a) => (a ? 0 : 1) : (a) => ~a),
  wgsl: ([a], [d]) => (d === 'bool' ? `(!${a})` : `(~${a})`),
  onnx: bitwise('Not', 'BitwiseNot'),
});
export const shiftLeftP = elementwise({
  name: 'shift_left',
  arity: 2,
  dtypes: ['int32', 'uint32'],
  f: (a, b) => (b >= 32 ? 0 : a << b),
  wgsl: ([a, b], [d]) => `select(${zeroOf(d)}, ${a} << u32(${b}), u32(${b}) < 32u)`,
});
export const shiftRightLogicalP = elementwise({
  name: 'shift_right_logical',
  arity: 2,
  dtypes: ['int32', 'uint32'],
  f: (a, b) => (b >= 32 ? 0 : a >>> b),
  wgsl: ([a, b], [d]) =>
    d === 'uint32'
      ? `select(0u, ${a} >> ${b}, ${b} < 32u)`
      : `select(0i, bitcast<i32>(bitcast<u32>(${a}) >> u32(${b})), u32(${b}) < 32u)`,
});

/** `select(pred, onTrue, onFalse)`: pred is bool and of the same shape. */
export const selectP: Primitive = definePrimitive({
  name: 'select',
  props: { elementwise: true, linear: true },
  abstractEval(avals) {
    expectArity('select', avals, 3);
    checkSameShapes(
      'select',
      avals.map((a) => a.shape),
    );
    if (avals[0].dtype !== 'bool') throw new DTypeError(`select: predicate must be bool, got ${avals[0].dtype}`);
    const d = expectSameDType('select', avals.slice(1));
    return [{ shape: avals[0].shape, dtype: d }];
  },
  impl([p, a, b]) {
    const [pb, ab, bb] = [p.buffer, a.buffer, b.buffer];
    const out = allocate(a.dtype, pb.length);
    for (let i = 0; i < pb.length; i++) out[i] = pb[i] ? ab[i] : bb[i];
    return [new ConcreteArray(out, p.shape, a.dtype)];
  },
  jvp: ([p, a, b], [, ta, tb]) => [[select(p, a, b)], [select(p, ta, tb)]],
  wgsl: ([p, a, b]) => `select(${b}, ${a}, ${p})`,
  batch: (vals, dims, params, size) => batchElementwise(selectP)(vals, dims, params, size),
  onnx: (e, args, _, { outs: [out] }) => {
    // ReLU as written, where(x <= 0, 0, x), is ONNX's Relu: one pass instead of two, and ONNX
    // Runtime fuses it into a convolution before it (NaN stays NaN, in the fused kernels too).
    const [p, a, b] = args,
      test = e.producer(p);
    const relu =
      test?.prim === leP && test.inputs[0] === b && isZero(e, test.inputs[1], out.dtype) && isZero(e, a, out.dtype);
    if (relu && isFloat(out.dtype)) return [e.op('Relu', [b])];
    return [
      e.op(
        'Where',
        leanOperands(e, args).map((o) => o.name),
      ),
    ];
  },
  transpose([ct], [p, a, b]) {
    const z = zerosLike(ct);
    return [null, isUndefined(a) ? select(p as Array, ct, z) : null, isUndefined(b) ? select(p as Array, z, ct) : null];
  },
});

/** Converts to `dtype` (floats truncate toward zero into ints, any nonzero is true). */
export const castP: Primitive<{ dtype: DType }> = definePrimitive({
  name: 'cast',
  props: { elementwise: true, linear: true },
  abstractEval([x], { dtype }) {
    checkDType('cast', dtype, allDTypes);
    return [{ shape: x.shape, dtype }];
  },
  impl([x], { dtype }) {
    const src = x.buffer;
    // NaN is true, as in numpy and JAX (it is not zero). Floats become integers truncated, NaN as 0,
    // saturated at the dtype's range (32-bit ones at int32's, then reinterpreted for uint32, as WGSL
    // converts them); integers wrap; floats round to the nearest (even) value of a narrower float.
    const [lo, hi] =
      dtype === 'uint32' || dtype === 'int32' ? intRange('int32') : isFloat(dtype) ? [0, 0] : intRange(dtype);
    const n = src.length,
      out = allocate(dtype, n);
    // Typed arrays convert as cast does where they can: float32 rounds to nearest, integers wrap.
    if (dtype === 'bool') for (let i = 0; i < n; i++) out[i] = src[i] !== 0 ? 1 : 0;
    else if (isHalf(dtype)) for (let i = 0; i < n; i++) out[i] = coerce(dtype, src[i]);
    else if (isFloat(dtype) || !isFloat(x.dtype)) out.set(src);
    else
      for (let i = 0; i < n; i++) {
        const v = src[i];
        out[i] = Number.isNaN(v) ? 0 : Math.min(Math.max(Math.trunc(v), lo), hi);
      }
    return [new ConcreteArray(out, x.shape, dtype)];
  },
  jvp: ([x], [t], { dtype }) => [
    [cast(x, dtype)],
    [isFloat(dtype) && isFloat(x.dtype) ? cast(t, dtype) : zerosLike({ shape: x.shape, dtype })],
  ],
  batch: ([x], [d], params) => [[bind1(castP, [x], params)], [d]],
  transpose: ([ct], [x]) => [cast(ct, (x as UndefinedPrimal).aval.dtype)],
  onnx: (e, [x], { dtype }, { ins: [from] }) => {
    if (from.dtype === dtype) return [e.op('Identity', [x])];
    if (!isF(from.dtype) || isF(dtype) || dtype === 'bool') return [e.op('Cast', [x], { to: e.elemType(dtype) })];
    // Saturating, NaN as 0, like the kernel above (a plain Cast of an out-of-range float is undefined).
    const f = from.dtype;
    const [lo, hi] = dtype === 'uint32' ? intRange('int32') : intRange(dtype);
    const big = e.op('GreaterOrEqual', [x, e.constant(hi + 1, f)]);
    const inRange = e.op('Where', [
      e.op('Or', [big, e.op('IsNaN', [x])]),
      e.constant(0, f),
      e.op('Max', [x, e.constant(lo, f)]),
    ]);
    const wide = dtype === 'uint32' ? 'int32' : dtype;
    const int = e.op('Where', [big, e.constant(hi, wide), e.op('Cast', [inRange], { to: e.elemType(wide) })]);
    return [wide === dtype ? int : e.op('Cast', [int], { to: e.elemType(dtype) })];
  },
  // `from` is the operand's compute dtype (float32 for float16, int32 for int8); the result is
  // rounded to `dtype` after this expression.
  wgsl([a], [from], { dtype }) {
    const to = computeDType(dtype);
    if (dtype === 'bool') return from === 'bool' ? a : `(${a} != ${zeroOf(from)})`;
    if (from === 'bool')
      return `select(${zeroOf(to)}, ${to === 'float32' ? '1.0' : to === 'int32' ? '1i' : '1u'}, ${a})`;
    if (from === to) return a;
    // Float to int truncates toward zero, NaN becomes 0; 32-bit ints wrap like JS (u32 through i32), narrower
    // ones saturate at their range (as the CPU kernels do).
    if (isF(from) && to !== dtype) {
      const [lo, hi] = intRange(dtype);
      return `select(i32(clamp(${a}, ${lo}.0, ${hi}.0)), 0i, isnan_(${a}))`;
    }
    if (isF(from) && to === 'uint32') return `select(bitcast<u32>(i32(${a})), 0u, isnan_(${a}))`;
    if (isF(from) && to === 'int32') return `select(i32(${a}), 0i, isnan_(${a}))`;
    if (to === 'uint32' || to === 'int32') return `bitcast<${to === 'uint32' ? 'u32' : 'i32'}>(${a})`;
    return `f32(${a})`;
  },
});

/** Reinterprets the bits of 32-bit elements as another 32-bit dtype. */
export const bitcastP: Primitive<{ dtype: DType }> = definePrimitive({
  name: 'bitcast',
  props: { elementwise: true },
  abstractEval([x], { dtype }) {
    const ok: DType[] = ['float32', 'int32', 'uint32'];
    checkDType('bitcast', x.dtype, ok);
    checkDType('bitcast', dtype, ok);
    return [{ shape: x.shape, dtype }];
  },
  impl([x], { dtype }) {
    const src = x.buffer;
    const out = new (dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : Uint32Array)(
      src.slice().buffer as ArrayBuffer,
    );
    return [new ConcreteArray(out, x.shape, dtype)];
  },
  batch: ([x], [d], params) => [[bind1(bitcastP, [x], params)], [d]],
  wgsl: ([a], _, { dtype }) => `bitcast<${dtype === 'float32' ? 'f32' : dtype === 'int32' ? 'i32' : 'u32'}>(${a})`,
});

/** Identity whose derivative is zero: gradients do not flow through it. */
export const stopGradientP: Primitive = definePrimitive({
  name: 'stop_gradient',
  abstractEval: ([x]) => [x],
  impl: ([x]) => [x],
  jvp: ([x]) => [[x], [zerosLike(x)]],
  batch: ([x], [d]) => [[x], [d]],
  wgsl: ([a]) => a,
  onnx: (e, [x]) => [e.op('Identity', [x])],
});

// ---------------------------------------------------------------- strict functions (lax)

/** lax.neg: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const neg = (x: Array) => bind1(negP, [x]);
/** lax.exp: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const exp = (x: Array) => bind1(expP, [x]);
/** lax.log: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const log = (x: Array) => bind1(logP, [x]);
/** lax.sin: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const sin = (x: Array) => bind1(sinP, [x]);
/** lax.cos: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const cos = (x: Array) => bind1(cosP, [x]);
/** lax.sign: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const sign = (x: Array) => bind1(signP, [x]);
/** lax.add: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const add = (x: Array, y: Array) => bind1(addP, [x, y]);
/** lax.sub: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const sub = (x: Array, y: Array) => bind1(subP, [x, y]);
/** lax.mul: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const mul = (x: Array, y: Array) => bind1(mulP, [x, y]);
/** lax.div: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const div = (x: Array, y: Array) => bind1(divP, [x, y]);
/** lax.pow: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const pow = (x: Array, y: Array) => bind1(powP, [x, y]);
/** lax.max: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const max = (x: Array, y: Array) => bind1(maxP, [x, y]);
/** lax.min: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const min = (x: Array, y: Array) => bind1(minP, [x, y]);
/** lax.eq: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const eq = (x: Array, y: Array) => bind1(eqP, [x, y]);
/** lax.ne: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const ne = (x: Array, y: Array) => bind1(neP, [x, y]);
/** lax.lt: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export function lt(x: Array, y: Array) {
  return bind1(ltP, [x, y]);
}
/** lax.le: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const le = (x: Array, y: Array) => bind1(leP, [x, y]);
/** lax.gt: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export function gt(x: Array, y: Array) {
  return bind1(gtP, [x, y]);
}
/** lax.select: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const select = (p: Array, onTrue: Array, onFalse: Array) => bind1(selectP, [p, onTrue, onFalse]);
/** lax.cast: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const cast = (x: Array, dtype: DType) => (x.dtype === dtype ? x : bind1(castP, [x], { dtype }));
/** lax.bitcast: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const bitcast = (x: Array, dtype: DType) => (x.dtype === dtype ? x : bind1(bitcastP, [x], { dtype }));
/** Rounds toward zero. */
export const truncate = (x: Array) => select(lt(x, zerosLike(x)), bind1(ceilP, [x]), bind1(floorP, [x]));

// ---------------------------------------------------------------- special functions

/** erf in float64: Maclaurin series below 3, continued fraction for erfc above. */
function erfImpl(x: number): number {
  const ax = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (ax < 3) {
    let term = x,
      sum = x;
    const x2 = x * x;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= -x2 / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax > 6) return Math.sign(x);
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) evaluated bottom-up
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/**
 * Inverse erf through the normal quantile, erfinv(x) = quantile((1 + x) / 2) / sqrt(2), with
 * Wichura's algorithm AS 241 (Applied Statistics 37, 1988): rational functions in three ranges,
 * about 1e-16 relative. The probability's offset from 1/2 and its tail come from x directly
 * (x / 2 and (1 - |x|) / 2, exact), so no digits are lost near x = ±1.
 */
function erfInvImpl(x: number): number {
  const ax = Math.abs(x);
  if (!(ax < 1)) return ax === 1 ? x * Infinity : NaN;
  if (ax <= 0.85) {
    // The central range, |p - 1/2| <= 0.425, with q = x / 2 folded in (x / 2 underflows for the smallest x).
    const r = 0.180625 - (x * x) / 4;
    return (x * horner(AS241.central[0], r)) / horner(AS241.central[1], r) / (2 * Math.SQRT2);
  }
  let r = Math.sqrt(-Math.log((1 - ax) / 2));
  const [num, den] = r <= 5 ? AS241.intermediate : AS241.tail;
  r -= r <= 5 ? 1.6 : 5;
  return (Math.sign(x) * horner(num, r)) / horner(den, r) / Math.SQRT2;
}
/** c[0] + c[1] r + c[2] r^2 + ... */
function horner(c: readonly number[], r: number): number {
  let acc = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) acc = acc * r + c[i];
  return acc;
}
/** AS 241's coefficients (numerator, denominator; constant term first). */
const AS241 = {
  central: [
    [
      3.387132872796366608, 133.14166789178437745, 1971.5909503065514427, 13731.693765509461125, 45921.953931549871457,
      67265.770927008700853, 33430.575583588128105, 2509.0809287301226727,
    ],
    [
      1, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077, 21213.794301586595867,
      39307.89580009271061, 28729.085735721942674, 5226.495278852854561,
    ],
  ],
  intermediate: [
    [
      1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055, 3.64784832476320460504,
      1.27045825245236838258, 0.24178072517745061177, 0.0227238449892691845833, 7.7454501427834140764e-4,
    ],
    [
      1, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455, 0.14810397642748007459,
      0.0151986665636164571966, 5.475938084995344946e-4, 1.05075007164441684324e-9,
    ],
  ],
  tail: [
    [
      6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358, 0.29656057182850489123,
      0.026532189526576123093, 0.0012426609473880784386, 2.71155556874348757815e-5, 2.01033439929228813265e-7,
    ],
    [
      1, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525, 7.868691311456132591e-4,
      1.8463183175100546818e-5, 1.4215117583164458887e-7, 2.04426310338993978564e-15,
    ],
  ],
};
