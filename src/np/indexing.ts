/**
 * Indexing: basic slicing (`x.slice(...)`), functional updates (`x.at(...).set(v)`),
 * `take` and `takeAlongAxis`. Static indices compile to slice/pad/rev; array indices to gather.
 * @module
 */
import type { Array, ArrayLike, Index } from '../core/array.js';
import { ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs } from '../core/options.js';
import { normAxis } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo } from './convert.js';

interface AxisRange {
  start: number;
  count: number;
  step: number;
  /** An integer index: the axis is dropped from the result. */
  drop: boolean;
}

/** Resolves python-style index entries against a shape (missing trailing entries take everything). */
function resolve(op: string, shape: readonly number[], index: readonly Index[]): AxisRange[] {
  if (index.length > shape.length)
    throw new ValueError(`${op}: too many indices (${index.length}) for an array of shape ${fmtShape(shape)}`);
  return shape.map((n, axis) => {
    const ix = index[axis] ?? null;
    if (ix === null) return { start: 0, count: n, step: 1, drop: false };
    if (typeof ix === 'number') {
      if (!Number.isInteger(ix) || ix < -n || ix >= n)
        throw new ValueError(`${op}: index ${ix} is out of bounds for axis ${axis} with size ${n}`);
      return { start: ix < 0 ? ix + n : ix, count: 1, step: 1, drop: true };
    }
    const step = ix[2] ?? 1;
    if (!Number.isInteger(step) || step === 0)
      throw new ValueError(`${op}: slice step must be a nonzero integer, got ${step}`);
    const clampIdx = (v: number | null, dflt: number, lo: number, hi: number) =>
      v === null ? dflt : Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    const start = step > 0 ? clampIdx(ix[0], 0, 0, n) : clampIdx(ix[0], n - 1, -1, n - 1);
    const stop = step > 0 ? clampIdx(ix[1], n, 0, n) : clampIdx(ix[1], -1, -1, n - 1);
    const count = Math.max(0, Math.ceil((stop - start) / step));
    return { start, count, step, drop: false };
  });
}

/** The selected box as positive-stride [start, step, count] (negative steps are flipped). */
const box = (r: AxisRange) =>
  r.step > 0 ? { lo: r.start, step: r.step } : { lo: r.start + (r.count - 1) * r.step, step: -r.step };

/**
 * Basic indexing: integers pick (and drop an axis), `null` keeps an axis, `[start, stop, step]`
 * slices with python semantics (negative values count from the end).
 * @example np.slice(x, 0, [1, null]) // x[0, 1:]
 * @category Indexing
 */
export function slice(x: ArrayLike, ...index: Index[]): Array {
  const a = asArray(x);
  const ranges = resolve('slice', a.shape, index);
  const start = ranges.map((r) => (r.count ? box(r).lo : 0));
  const strides = ranges.map((r) => box(r).step);
  const limit = ranges.map((r, i) => (r.count ? start[i] + (r.count - 1) * strides[i] + 1 : 0));
  let y = bind1(P.sliceP, [a], { start, limit, strides });
  const flipped = ranges.flatMap((r, i) => (r.step < 0 ? [i] : []));
  if (flipped.length) y = bind1(P.revP, [y], { axes: flipped });
  return P.reshape(
    y,
    ranges.filter((r) => !r.drop).map((r) => r.count),
  );
}

/** Places `v` (already of the box's shape) into a zero array of `shape`, plus a mask of the box. */
function embed(shape: readonly number[], ranges: AxisRange[], v: Array, fill: number): Array {
  const flipped = ranges.flatMap((r, i) => (r.step < 0 ? [i] : []));
  const vv = flipped.length ? bind1(P.revP, [v], { axes: flipped }) : v;
  const lo = ranges.map((r) => (r.count ? box(r).lo : 0));
  const interior = ranges.map((r) => box(r).step - 1);
  const hi = ranges.map((r, i) => shape[i] - lo[i] - (r.count ? (r.count - 1) * box(r).step + 1 : 0));
  return P.pad(vv, lo, hi, interior, fill);
}

/**
 * Functional update `x.at(index).set/add/multiply(v)`: a new array equal to `x` except in the
 * indexed region. Differentiable in both `x` and `v`.
 * @category Indexing
 */
export function atUpdate(x: ArrayLike, index: readonly Index[], v: ArrayLike, mode: 'set' | 'add' | 'multiply'): Array {
  const a = asArray(x);
  const ranges = resolve('at', a.shape, index);
  const boxShape = ranges.map((r) => r.count);
  const sliceShape = ranges.filter((r) => !r.drop).map((r) => r.count);
  const val = P.reshape(broadcastTo(asArray(v, a.dtype), sliceShape, 'at'), boxShape);
  if (mode === 'add') return P.add(a, embed(a.shape, ranges, val, 0));
  if (mode === 'multiply') return P.mul(a, embed(a.shape, ranges, val, 1));
  const mask = P.cast(embed(a.shape, ranges, P.fullLike({ shape: boxShape, dtype: 'int32' }, 1), 0), 'bool');
  return P.select(mask, embed(a.shape, ranges, val, 0), a);
}

const wrapIndices = (idx: Array, n: number) => {
  const i = P.cast(idx, 'int32');
  return P.select(P.lt(i, P.zerosLike(i)), P.add(i, P.fullLike(i, n)), i);
};

/**
 * Takes elements along `axis` at integer `indices` (flattened when `axis` is omitted).
 * Negative indices count from the end; out-of-range ones are clamped.
 * @example np.take(x, np.array([2, 0], {dtype: 'int32'}), {axis: 1})
 * @category Indexing
 */
export function take(x: ArrayLike, indices: ArrayLike, opts?: { axis?: number }): Array {
  const o = checkOptions('take', { axis: codecs.number }, opts);
  let a = asArray(x);
  if (o.axis === undefined) a = P.reshape(a, [a.size]);
  const axis = normAxis('take', o.axis ?? 0, a.ndim);
  return P.gather(a, wrapIndices(asArray(indices, 'int32'), a.shape[axis]), axis);
}

/**
 * Picks along `axis` with an index array of the same rank (broadcast in the other axes),
 * like `np.take_along_axis`.
 * @category Indexing
 */
export function takeAlongAxis(x: ArrayLike, indices: ArrayLike, axis: number): Array {
  const a = asArray(x);
  const ax = normAxis('takeAlongAxis', axis, a.ndim);
  let idx = wrapIndices(asArray(indices, 'int32'), a.shape[ax]);
  if (idx.ndim !== a.ndim)
    throw new ValueError(`takeAlongAxis: indices of rank ${idx.ndim} must match the array's rank ${a.ndim}`);
  const shape = a.shape.map((d, i) => (i === ax ? idx.shape[i] : Math.max(d, idx.shape[i])));
  idx = broadcastTo(idx, shape, 'takeAlongAxis');
  const src = broadcastTo(
    a,
    a.shape.map((d, i) => (i === ax ? d : shape[i])),
    'takeAlongAxis',
  );
  // Flat position in src = sum over axes of coordinate * stride, the coordinate along `axis` from idx.
  let flat = P.zerosLike(idx);
  let stride = 1;
  for (let i = a.ndim - 1; i >= 0; i--) {
    const coord = i === ax ? idx : P.iota(shape, 'int32', i);
    flat = P.add(flat, P.mul(coord, P.fullLike(coord, stride)));
    stride *= src.shape[i];
  }
  return P.gather(P.reshape(src, [src.size]), flat, 0);
}
