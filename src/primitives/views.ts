/**
 * View primitives: they move elements without computing on them. All are linear, so each
 * has a transpose; their CPU kernels share one strided-gather helper.
 * @module
 */
import { type Array, ConcreteArray, type ShapedArray } from '../core/array.js';
import { type DType, allocate, checkDType, coerce, floatDTypes, intDTypes, intRange, isFloat } from '../core/dtype.js';
import { ShapeError, UnlowerableError, ValueError } from '../core/errors.js';
import {
  type BatchDim,
  type OnnxEmitter,
  type Primitive,
  UndefinedPrimal,
  definePrimitive,
} from '../core/primitive.js';
import { type Shape, shapesEqual, sizeOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { advance, defineLinear, expectSameDType, fmt, stridedCopy, stridedOffsets, stridesOf } from './util.js';

const isUndef = (x: unknown): x is UndefinedPrimal => x instanceof UndefinedPrimal;
const avalOf = (x: Array | UndefinedPrimal) => (isUndef(x) ? x.aval : x.aval);

// ---------------------------------------------------------------- reshape

export const reshapeP: Primitive<{ shape: Shape }> = defineLinear({
  name: 'reshape',
  props: { linear: true, view: true },
  abstractEval([x], { shape }) {
    if (sizeOf(shape) !== sizeOf(x.shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} (size ${sizeOf(x.shape)}) into ${fmt(shape)}`);
    }
    return [{ shape, dtype: x.dtype }];
  },
  impl: ([x], { shape }) => [new ConcreteArray(x.buffer, shape, x.dtype)],
  batch([x], [d], { shape }, size) {
    return [[reshape(moveBatchAxis(x, d, 0, size), [size, ...shape])], [0]];
  },
  transpose: ([ct], [x]) => [reshape(ct, avalOf(x).shape)],
  onnx: (e, [x], { shape }, { ins: [a] }) => {
    // A chain of reshapes reshapes its first input once; one that changes nothing is that input.
    let [root, from] = [x, a.shape];
    for (let p = e.producer(root); p?.prim === reshapeP; p = e.producer(root))
      [root, from] = [p.inputs[0], p.inAvals[0].shape];
    return [shapesEqual(from, shape) ? root : e.op('Reshape', [root, e.ints(shape)], { allowzero: 1 })];
  },
});

// ---------------------------------------------------------------- broadcast_in_dim

/** Broadcasts `x` to `shape`; operand axis i becomes output axis dims[i] (size 1 or equal). */
export const broadcastInDimP: Primitive<{ shape: Shape; dims: readonly number[] }> = defineLinear({
  name: 'broadcast_in_dim',
  props: { linear: true, view: true },
  abstractEval([x], { shape, dims }) {
    const ok =
      dims.length === x.shape.length &&
      dims.every(
        (d, i) =>
          d >= 0 && d < shape.length && (i === 0 || d > dims[i - 1]) && (x.shape[i] === 1 || x.shape[i] === shape[d]),
      );
    if (!ok)
      throw new ShapeError(`broadcast_in_dim: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)} with dims [${dims}]`);
    return [{ shape, dtype: x.dtype }];
  },
  impl([x], { shape, dims }) {
    const xs = stridesOf(x.shape);
    const strides = shape.map(() => 0);
    dims.forEach((d, i) => (strides[d] = x.shape[i] === 1 ? 0 : xs[i]));
    return [stridedCopy(x, shape, strides)];
  },
  batch([x], [d], { shape, dims }, size) {
    const xb = moveBatchAxis(x, d, 0, size);
    return [[broadcastInDim(xb, [size, ...shape], [0, ...dims.map((k) => k + 1)])], [0]];
  },
  transpose([ct], [x], { shape, dims }) {
    const xShape = avalOf(x).shape;
    // Sum over the new axes and over axes that were stretched from size 1.
    const summed = shape
      .map((_, i) => i)
      .filter((i) => !dims.includes(i) || (xShape[dims.indexOf(i)] === 1 && shape[i] !== 1));
    return [reshape(reduceSum(ct, summed), xShape)];
  },
  onnx: (e, [x], { shape, dims }, { ins: [a] }) => [onnxBroadcast(e, x, a.shape, shape, dims)],
});

// ---------------------------------------------------------------- transpose

export const transposeP: Primitive<{ perm: readonly number[] }> = defineLinear({
  name: 'transpose',
  props: { linear: true, view: true },
  abstractEval([x], { perm }) {
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x.shape.length || sorted.some((p, i) => p !== i)) {
      throw new ValueError(`transpose: [${perm}] is not a permutation of the axes of ${fmt(x.shape)}`);
    }
    return [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype }];
  },
  impl([x], { perm }) {
    const xs = stridesOf(x.shape);
    const shape = perm.map((p) => x.shape[p]);
    return [
      stridedCopy(
        x,
        shape,
        perm.map((p) => xs[p]),
      ),
    ];
  },
  batch([x], [d], { perm }) {
    const bd = d as number;
    const full = [bd, ...perm.map((p) => (p >= bd ? p + 1 : p))];
    return [[transpose(x, full)], [0]];
  },
  transpose([ct], _, { perm }) {
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(ct, inv)];
  },
  onnx: (e, [x], { perm }, { ins: [a] }) => [onnxTranspose(e, x, a.shape, perm)],
});

// ---------------------------------------------------------------- slice

/** Static slice `x[start:limit:strides]` per axis (strides positive). */
export const sliceP: Primitive<{ start: readonly number[]; limit: readonly number[]; strides: readonly number[] }> =
  defineLinear({
    name: 'slice',
    props: { linear: true, view: true },
    abstractEval([x], { start, limit, strides }) {
      const nd = x.shape.length;
      const ok =
        start.length === nd &&
        limit.length === nd &&
        strides.length === nd &&
        x.shape.every((d, i) => start[i] >= 0 && start[i] <= limit[i] && limit[i] <= d && strides[i] >= 1);
      if (!ok)
        throw new ValueError(
          `slice: start [${start}], limit [${limit}], strides [${strides}] do not fit shape ${fmt(x.shape)}`,
        );
      return [{ shape: x.shape.map((_, i) => Math.ceil((limit[i] - start[i]) / strides[i])), dtype: x.dtype }];
    },
    impl([x], { start, limit, strides }) {
      const xs = stridesOf(x.shape);
      const shape = x.shape.map((_, i) => Math.ceil((limit[i] - start[i]) / strides[i]));
      const offset = start.reduce((a, s, i) => a + s * xs[i], 0);
      return [
        stridedCopy(
          x,
          shape,
          xs.map((s, i) => s * strides[i]),
          offset,
        ),
      ];
    },
    batch([x], [d], { start, limit, strides }) {
      const bd = d as number;
      const ins = <T>(a: readonly T[], v: T) => [...a.slice(0, bd), v, ...a.slice(bd)];
      return [
        [bind1(sliceP, [x], { start: ins(start, 0), limit: ins(limit, x.shape[bd]), strides: ins(strides, 1) })],
        [bd],
      ];
    },
    transpose([ct], [x], { start, strides }) {
      const shape = avalOf(x).shape;
      // Scatter back: interior padding re-creates the strides, edge padding the offsets.
      const lo = start.map((s) => s);
      const interior = strides.map((s) => s - 1);
      const hi = shape.map((d, i) => d - start[i] - (ct.shape[i] === 0 ? 0 : (ct.shape[i] - 1) * strides[i] + 1));
      return [pad(ct, lo, hi, interior, 0)];
    },
    onnx: (e, [x], params, { ins: [a] }) => [
      splitPiece(e, x, a.shape, params) ?? onnxSlice(e, x, params.start, params.limit, params.strides),
    ],
  });

type SliceParams = { start: readonly number[]; limit: readonly number[]; strides: readonly number[] };

/** The one axis a slice of `shape` cuts (unit strides, every other axis whole), else -1. */
function cutAxis(shape: Shape, { start, limit, strides }: SliceParams): number {
  const cut = shape.flatMap((d, i) => (start[i] === 0 && limit[i] === d ? [] : [i]));
  return cut.length === 1 && strides.every((s) => s === 1) && start[cut[0]] < limit[cut[0]] ? cut[0] : -1;
}

/** Each lowering's splits, by operand and axis: the pieces by where they start (null: the slices do not tile it). */
const splits = new WeakMap<OnnxEmitter, Map<string, Map<number, { limit: number; name: string }> | null>>();

/**
 * A slice as its piece of one ONNX `Split` of its operand, where the operand's slices along that
 * axis tile it: one node where there were many, as a vector that an optimizer updates for many
 * small parameters at once comes apart in hundreds of pieces (DenseNet-121's step: 729 `Slice`s of
 * [83,658] values), and the pieces can be rejoined where they are concatenated again (see the
 * lowering's Concat). Concatenations' gradients and a recurrent cell's gates are split the same way.
 */
function splitPiece(e: OnnxEmitter, x: string, shape: Shape, p: SliceParams): string | undefined {
  const axis = cutAxis(shape, p);
  if (axis < 0) return undefined;
  let byOperand = splits.get(e);
  if (!byOperand) splits.set(e, (byOperand = new Map()));
  const key = `${x}:${axis}`;
  if (!byOperand.has(key)) {
    const limits = new Map<number, number>();
    let tiles = true;
    for (const r of e.readers(x)) {
      const q = r.params as SliceParams;
      if (r.prim !== sliceP || r.operand !== 0 || cutAxis(shape, q) !== axis) continue;
      const [start, limit] = [q.start[axis], q.limit[axis]];
      tiles &&= (limits.get(start) ?? limit) === limit;
      limits.set(start, limit);
    }
    // Each piece starts where the one before it ends, from 0 to the axis's end.
    const starts = [...limits.keys()].sort((i, j) => i - j);
    tiles &&=
      starts.length > 1 &&
      starts.every((s, i) => s === (i === 0 ? 0 : limits.get(starts[i - 1]))) &&
      limits.get(starts[starts.length - 1]) === shape[axis];
    if (!tiles) byOperand.set(key, null);
    else {
      const sizes = starts.map((s) => limits.get(s)! - s);
      const names = e.ops('Split', [x, e.ints(sizes)], { axis }, sizes.length);
      byOperand.set(key, new Map(starts.map((s, i) => [s, { limit: limits.get(s)!, name: names[i] }])));
    }
  }
  const piece = byOperand.get(key)?.get(p.start[axis]);
  return piece?.limit === p.limit[axis] ? piece.name : undefined;
}

// ---------------------------------------------------------------- pad

/** Pads with a constant: `lo`/`hi` elements before/after each axis (negative crops), `interior` between elements. */
export const padP: Primitive<{
  lo: readonly number[];
  hi: readonly number[];
  interior: readonly number[];
  value: number;
}> = defineLinear({
  name: 'pad',
  props: { linear: true, view: true },
  abstractEval([x], { lo, hi, interior }) {
    const nd = x.shape.length;
    if (lo.length !== nd || hi.length !== nd || interior.length !== nd || interior.some((v) => v < 0)) {
      throw new ValueError(`pad: lo [${lo}], hi [${hi}], interior [${interior}] do not fit shape ${fmt(x.shape)}`);
    }
    const shape = x.shape.map((d, i) => lo[i] + hi[i] + d + Math.max(0, d - 1) * interior[i]);
    if (shape.some((d) => d < 0)) throw new ValueError(`pad: negative output size ${fmt(shape)} from ${fmt(x.shape)}`);
    return [{ shape, dtype: x.dtype }];
  },
  impl([x], { lo, hi, interior, value }) {
    const shape = x.shape.map((d, i) => lo[i] + hi[i] + d + Math.max(0, d - 1) * interior[i]);
    const out = new ConcreteArray(allocate(x.dtype, sizeOf(shape)).fill(coerce(x.dtype, value)), shape, x.dtype);
    const os = stridesOf(shape);
    const src = x.buffer;
    const dst = out.buffer;
    const offs = stridedOffsets(
      x.shape,
      os.map((s, i) => s * (interior[i] + 1)),
    );
    const base = lo.reduce((a, l, i) => a + l * os[i], 0);
    // Elements that fall outside (negative padding) are skipped by an explicit bounds check.
    const xs = stridesOf(x.shape);
    for (let i = 0; i < src.length; i++) {
      let inside = true;
      for (let k = 0; k < shape.length; k++) {
        const pos = lo[k] + (Math.floor(i / xs[k]) % x.shape[k]) * (interior[k] + 1);
        if (pos < 0 || pos >= shape[k]) {
          inside = false;
          break;
        }
      }
      if (inside) dst[base + offs[i]] = src[i];
    }
    return [out];
  },
  tangentParams: (p) => ({ ...p, value: 0 }),
  batch([x], [d], p) {
    const bd = d as number;
    const ins = (a: readonly number[], v: number) => [...a.slice(0, bd), v, ...a.slice(bd)];
    return [[bind1(padP, [x], { ...p, lo: ins(p.lo, 0), hi: ins(p.hi, 0), interior: ins(p.interior, 0) })], [bd]];
  },
  transpose([ct], [x], { lo, hi, interior }) {
    const shape = avalOf(x).shape;
    // Undo negative padding first, then take every (interior+1)-th element.
    const unpadded = pad(
      ct,
      lo.map((l) => Math.max(0, -l)),
      hi.map((h) => Math.max(0, -h)),
      lo.map(() => 0),
      0,
    );
    const start = lo.map((l) => Math.max(0, l));
    const limit = shape.map((d, i) => start[i] + (d === 0 ? 0 : (d - 1) * (interior[i] + 1) + 1));
    return [bind1(sliceP, [unpadded], { start, limit, strides: interior.map((v) => v + 1) })];
  },
  onnx: (e, [x], p, { ins: [a] }) => [onnxPad(e, x, a, p)],
});

// ---------------------------------------------------------------- rev (flip)

export const revP: Primitive<{ axes: readonly number[] }> = defineLinear({
  name: 'rev',
  props: { linear: true, view: true },
  abstractEval: ([x], { axes }) => {
    if (axes.some((a) => a < 0 || a >= x.shape.length))
      throw new ValueError(`rev: axes [${axes}] out of range for ${fmt(x.shape)}`);
    return [x];
  },
  impl([x], { axes }) {
    const xs = stridesOf(x.shape);
    const strides = xs.map((s, i) => (axes.includes(i) ? -s : s));
    const offset = axes.reduce((a, ax) => a + Math.max(0, x.shape[ax] - 1) * xs[ax], 0);
    return [stridedCopy(x, x.shape, strides, offset)];
  },
  batch: ([x], [d], { axes }) => [[bind1(revP, [x], { axes: axes.map((a) => (a >= (d as number) ? a + 1 : a)) })], [d]],
  transpose: ([ct], _, p) => [bind1(revP, [ct], p)],
  onnx: (e, [x], { axes }) => [
    axes.length
      ? e.op('Slice', [
          x,
          e.ints(axes.map(() => -1)),
          e.ints(axes.map(() => -(2 ** 31))),
          e.ints(axes),
          e.ints(axes.map(() => -1)),
        ])
      : x,
  ],
});

// ---------------------------------------------------------------- concatenate

export const concatenateP: Primitive<{ axis: number }> = defineLinear({
  name: 'concatenate',
  props: { linear: true, view: true },
  abstractEval(avals, { axis }) {
    if (avals.length === 0) throw new ValueError('concatenate: needs at least one operand');
    const dtype = expectSameDType('concatenate', avals);
    const s0 = avals[0].shape;
    const ok =
      axis >= 0 &&
      axis < s0.length &&
      avals.every((a) => a.shape.length === s0.length && a.shape.every((d, i) => i === axis || d === s0[i]));
    if (!ok)
      throw new ShapeError(
        `concatenate: shapes ${avals.map((a) => fmt(a.shape)).join(', ')} do not agree off axis ${axis}`,
      );
    const shape = [...s0];
    shape[axis] = avals.reduce((a, v) => a + v.shape[axis], 0);
    return [{ shape, dtype }];
  },
  impl(xs, { axis }) {
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((a, v) => a + v.shape[axis], 0);
    const data = allocate(xs[0].dtype, sizeOf(shape));
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    let col = 0;
    for (const x of xs) {
      const w = x.shape[axis] * inner;
      const src = x.buffer;
      for (let o = 0; o < outer; o++) data.set(src.subarray(o * w, (o + 1) * w), o * shape[axis] * inner + col);
      col += w;
    }
    return [new ConcreteArray(data, shape, xs[0].dtype)];
  },
  batch(vals, dims, { axis }, size) {
    return [
      [
        bind1(
          concatenateP,
          vals.map((v, i) => moveBatchAxis(v, dims[i], 0, size)),
          { axis: axis + 1 },
        ),
      ],
      [0],
    ];
  },
  transpose([ct], xs, { axis }) {
    let at = 0;
    return xs.map((x) => {
      const shape = avalOf(x).shape;
      const start = ct.shape.map((_, i) => (i === axis ? at : 0));
      const limit = ct.shape.map((d, i) => (i === axis ? at + shape[axis] : d));
      at += shape[axis];
      return isUndef(x) ? bind1(sliceP, [ct], { start, limit, strides: ct.shape.map(() => 1) }) : null;
    });
  },
  onnx: (e, xs, { axis }) => [e.op('Concat', xs, { axis })],
});

// ---------------------------------------------------------------- iota

/** `iota(shape, dtype, dimension)`: each element is its index along `dimension`. */
export const iotaP: Primitive<{ shape: Shape; dtype: DType; dimension: number }> = definePrimitive({
  name: 'iota',
  props: { view: true },
  abstractEval(_, { shape, dtype, dimension }) {
    if (dimension < 0 || dimension >= shape.length)
      throw new ValueError(`iota: dimension ${dimension} out of range for ${fmt(shape)}`);
    return [{ shape, dtype }];
  },
  impl(_, { shape, dtype, dimension }) {
    // Runs of `stride` equal values, counting up to the axis length and starting over.
    const [stride, length] = [stridesOf(shape)[dimension], shape[dimension]];
    const out = allocate(dtype, sizeOf(shape));
    for (let i = 0, v = 0; i < out.length; v = (v + 1) % length) for (let r = 0; r < stride; r++) out[i++] = v;
    return [new ConcreteArray(out, shape, dtype)];
  },
  onnx: (e, _, { shape, dtype, dimension }) => [onnxIota(e, shape, dtype, dimension)],
});

// ---------------------------------------------------------------- ONNX lowerings

/** A Transpose, or a Reshape when it only moves unit axes (the elements keep their order). */
export function onnxTranspose(e: OnnxEmitter, x: string, shape: Shape, perm: readonly number[]): string {
  const moved = perm.filter((p) => shape[p] !== 1);
  if (moved.every((p, i) => i === 0 || moved[i - 1] < p))
    return e.op('Reshape', [x, e.ints(perm.map((p) => shape[p]))], { allowzero: 1 });
  return e.op('Transpose', [x], { perm });
}

/** Reshape to the broadcast rank (ones elsewhere), then Expand; each step only if needed. */
function onnxBroadcast(e: OnnxEmitter, x: string, from: Shape, shape: Shape, dims: readonly number[]): string {
  const mid = shape.map(() => 1);
  dims.forEach((d, i) => (mid[d] = from[i]));
  const r = shapesEqual(mid, from) ? x : e.op('Reshape', [x, e.ints(mid)], { allowzero: 1 });
  return shapesEqual(mid, shape) ? r : e.op('Expand', [r, e.ints(shape)]);
}

function onnxSlice(
  e: OnnxEmitter,
  x: string,
  start: readonly number[],
  limit: readonly number[],
  strides: readonly number[],
): string {
  if (start.length === 0) return e.op('Identity', [x]); // a 0-d array: nothing to slice (ONNX's Slice refuses it)
  const axes = start.map((_, i) => i);
  return e.op('Slice', [x, e.ints(start), e.ints(limit), e.ints(axes), e.ints(strides)]);
}

/** Interior padding spreads each axis through an extra unit axis; negative edges crop with a Slice. */
function onnxPad(
  e: OnnxEmitter,
  x: string,
  a: ShapedArray,
  {
    lo,
    hi,
    interior,
    value,
  }: { lo: readonly number[]; hi: readonly number[]; interior: readonly number[]; value: number },
): string {
  const fill = e.constant(value, a.dtype);
  const shape = [...a.shape];
  let y = x;
  interior.forEach((k, ax) => {
    if (k === 0 || shape[ax] <= 1) return;
    const n = shape[ax];
    const unit = [...shape.slice(0, ax + 1), 1, ...shape.slice(ax + 1)];
    const pads = [...unit, ...unit].map(() => 0);
    pads[unit.length + ax + 1] = k;
    const spread = e.op('Pad', [e.op('Reshape', [y, e.ints(unit)], { allowzero: 1 }), e.ints(pads), fill]);
    shape[ax] = n * (k + 1) - k;
    const merged = e.op('Reshape', [spread, e.ints([...shape.slice(0, ax), n * (k + 1), ...shape.slice(ax + 1)])], {
      allowzero: 1,
    });
    y = onnxSlice(
      e,
      merged,
      shape.map(() => 0),
      shape,
      shape.map(() => 1),
    );
  });
  const grow = [...lo, ...hi].map((v) => Math.max(0, v));
  if (grow.some((v) => v > 0)) y = e.op('Pad', [y, e.ints(grow), fill]);
  if ([...lo, ...hi].some((v) => v < 0)) {
    const padded = shape.map((d, i) => d + Math.max(0, lo[i]) + Math.max(0, hi[i]));
    y = onnxSlice(
      e,
      y,
      lo.map((v) => Math.max(0, -v)),
      padded.map((d, i) => d - Math.max(0, -hi[i])),
      shape.map(() => 1),
    );
  }
  return y === x ? e.op('Identity', [x]) : y;
}

/** Range along one axis (int32 or float32; other dtypes cast), broadcast to the shape. */
function onnxIota(e: OnnxEmitter, shape: Shape, dtype: DType, dimension: number): string {
  const rangeType: DType = isFloat(dtype) ? 'float32' : 'int32';
  let r = e.op('Range', [e.constant(0, rangeType), e.constant(shape[dimension], rangeType), e.constant(1, rangeType)]);
  if (e.elemType(rangeType) !== e.elemType(dtype)) r = e.op('Cast', [r], { to: e.elemType(dtype) });
  return onnxBroadcast(e, r, [shape[dimension]], shape, [dimension]);
}

// ---------------------------------------------------------------- strict functions (lax)

/** lax.reshape: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const reshape = (x: Array, shape: Shape) =>
  shapesEqual(x.shape, shape) ? x : bind1(reshapeP, [x], { shape: [...shape] });
/** lax.broadcastInDim: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const broadcastInDim = (x: Array, shape: Shape, dims: readonly number[]) =>
  shapesEqual(x.shape, shape) && dims.every((d, i) => d === i)
    ? x
    : bind1(broadcastInDimP, [x], { shape: [...shape], dims: [...dims] });
/** lax.transpose: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const transpose = (x: Array, perm: readonly number[]) =>
  perm.every((p, i) => p === i) ? x : bind1(transposeP, [x], { perm: [...perm] });
/** lax.pad: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const pad = (
  x: Array,
  lo: readonly number[],
  hi: readonly number[],
  interior: readonly number[],
  value: number,
) =>
  lo.every((v) => v === 0) && hi.every((v) => v === 0) && interior.every((v) => v === 0)
    ? x
    : bind1(padP, [x], { lo: [...lo], hi: [...hi], interior: [...interior], value });
/** lax.iota: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const iota = (shape: Shape, dtype: DType, dimension: number) =>
  bind1(iotaP, [], { shape: [...shape], dtype, dimension });

// ---------------------------------------------------------------- reduce_sum and the reduction family

// reduce_sum lives beside broadcast_in_dim because each is the other's transpose; max, min and
// prod (src/primitives/reduce.ts) are made by the same family helper.

export function checkAxes(name: string, x: ShapedArray, axes: readonly number[]): number[] {
  if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= x.shape.length) || new Set(axes).size !== axes.length) {
    throw new ValueError(`${name}: axes [${axes}] are invalid for shape ${fmt(x.shape)}`);
  }
  return x.shape.filter((_, i) => !axes.includes(i));
}

/** Moves the reduced axes last, so each output element reduces one contiguous run. */
function reduceKernel(
  x: ConcreteArray,
  axes: readonly number[],
  init: number,
  step: (acc: number, v: number, dtype: DType) => number,
  dtype: DType,
): ConcreteArray {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const xs = stridesOf(x.shape);
  const outShape = kept.map((i) => x.shape[i]);
  const n = sizeOf(outShape);
  const m = sizeOf(axes.map((a) => x.shape[a]));
  const src = x.buffer;
  const out = allocate(dtype, n);
  const shape = perm.map((p) => x.shape[p]);
  const strides = perm.map((p) => xs[p]);
  const idx = new globalThis.Array<number>(shape.length).fill(0);
  let off = 0;
  for (let o = 0; o < n; o++) {
    let acc = init;
    for (let r = 0; r < m; r++) {
      acc = step(acc, src[off], dtype);
      off = advance(idx, shape, strides, off);
    }
    out[o] = coerce(dtype, acc);
  }
  return new ConcreteArray(out, outShape, dtype);
}

/** Re-inserts reduced axes as broadcast: the shape of `x` again. */
export const unreduce = (y: Array, x: ShapedArray, axes: readonly number[]) =>
  broadcastInDim(
    y,
    x.shape,
    x.shape.map((_, i) => i).filter((i) => !axes.includes(i)),
  );

export type ReduceParams = { axes: readonly number[] };

/**
 * ONNX reduction over `axes` (bool through int32, which ONNX Runtime's reductions hold). Where
 * ONNX Runtime parts from numpy it is corrected: an empty reduction is the identity, max and min
 * propagate NaN, integer sums wrap, and integer products (which saturate there) stay in JavaScript.
 */
const onnxReduce =
  (type: string, init: (d: DType) => number): Primitive<ReduceParams>['onnx'] =>
  (e, [x], { axes }, { ins: [a], outs: [out] }) => {
    if (axes.some((ax) => a.shape[ax] === 0)) {
      const fill = allocate(a.dtype, sizeOf(out.shape)).fill(init(a.dtype));
      return [e.constant(fill, a.dtype, out.shape)];
    }
    if (type === 'ReduceProd' && !isFloat(a.dtype))
      throw new UnlowerableError(`reduce_prod: ONNX Runtime saturates ${a.dtype} (and int64) products; numpy wraps`);
    if (type === 'ReduceSum' && !isFloat(a.dtype)) {
      // ONNX Runtime saturates int32 sums; an int64 sum cast back wraps, as numpy's int32 sum does.
      const wide = e.op(type, [e.op('Cast', [x], { to: e.elemType('int64') }), e.ints(axes)], { keepdims: 0 });
      return [e.op('Cast', [wide], { to: e.elemType(a.dtype === 'bool' ? 'int32' : a.dtype) })];
    }
    if (a.dtype !== 'bool') {
      const r = e.op(type, [x, e.ints(axes)], { keepdims: 0 });
      if (type === 'ReduceSum' || type === 'ReduceProd' || !isFloat(a.dtype)) return [r];
      // Whether a NaN is among the reduced elements (ONNX Runtime compares past them), as bytes:
      // the mask is as large as the operand, and uint8 moves a quarter of int32's memory.
      const nan = e.op(
        'ReduceMax',
        [e.op('Cast', [e.op('IsNaN', [x])], { to: e.elemType('uint8', true) }), e.ints(axes)],
        {
          keepdims: 0,
        },
      );
      return [e.op('Where', [e.op('Cast', [nan], { to: e.elemType('bool') }), e.constant(NaN, a.dtype), r])];
    }
    const r = e.op(type, [e.op('Cast', [x], { to: e.elemType('int32') }), e.ints(axes)], { keepdims: 0 });
    return [e.op('Cast', [r], { to: e.elemType('bool') })];
  };

/**
 * A reduction over `params.axes`: `onnxType` is its ONNX operator, `init` its identity and `step`
 * its accumulation. Linear ones (sum) are defined by {@link defineLinear}, which derives their jvp.
 */
export function reduction(
  name: string,
  onnxType: string,
  init: (d: DType) => number,
  step: (a: number, b: number, dtype: DType) => number,
  dtypes: DType[],
  rules: Partial<Primitive<ReduceParams>>,
): Primitive<ReduceParams> {
  const define = rules.props?.linear ? defineLinear : definePrimitive;
  const prim: Primitive<ReduceParams> = define({
    name,
    abstractEval([x], { axes }) {
      checkDType(name, x.dtype, dtypes);
      return [{ shape: checkAxes(name, x, axes), dtype: x.dtype }];
    },
    impl: ([x], { axes }) => [reduceKernel(x, axes, init(x.dtype), step, x.dtype)],
    batch([x], [d], { axes }) {
      const bd = d as number;
      const moved = axes.map((a) => (a >= bd ? a + 1 : a));
      const outDim = bd - moved.filter((a) => a < bd).length;
      return [[bind1(prim, [x], { axes: moved })], [outDim]];
    },
    onnx: onnxReduce(onnxType, init),
    ...rules,
    props: { kernel: true, reduction: { identity: init }, ...rules.props },
  });
  return prim;
}

export const numeric: DType[] = [...floatDTypes, ...intDTypes];
export const lowest = (d: DType) => (isFloat(d) ? -Infinity : intRange(d)[0]);
export const highest = (d: DType) => (isFloat(d) ? Infinity : intRange(d)[1]);

export const reduceSumP = reduction(
  'reduce_sum',
  'ReduceSum',
  () => 0,
  (a, b) => a + b,
  numeric,
  {
    props: { linear: true, kernel: true },
    transpose: ([ct], [x], { axes }) => [unreduce(ct, x.aval, axes)],
  },
);

/** lax.reduceSum: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const reduceSum = (x: Array, axes: readonly number[]) =>
  axes.length === 0 ? x : bind1(reduceSumP, [x], { axes: [...axes] });

/** Moves the batch axis of `x` from `from` to `to` (broadcasting an unbatched value). */
export function moveBatchAxis(x: Array, from: BatchDim, to: number, axisSize: number): Array {
  if (from === null) {
    const shape = [...x.shape];
    shape.splice(to, 0, axisSize);
    const dims = x.shape.map((_, i) => (i < to ? i : i + 1));
    return broadcastInDim(x, shape, dims);
  }
  if (from === to) return x;
  const perm = x.shape.map((_, i) => i).filter((i) => i !== from);
  perm.splice(to, 0, from);
  return transpose(x, perm);
}
