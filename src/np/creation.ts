/**
 * Array creation.
 * @module
 */
import type { Array, ArrayLike, NestedArray, ShapedArray } from '../core/array.js';
import { type DType, isFloat, isInteger } from '../core/dtype.js';
import { ValueError } from '../core/errors.js';
import { checkOptions, codecs } from '../core/options.js';
import { checkCount } from '../core/shape.js';
import * as P from '../primitives/index.js';
import { asArray, fromNested } from './convert.js';

const dtypeOpt = { dtype: codecs.dtype };
/** The `dtype` option of creation functions. @category Creation */
export type DTypeOpt = { dtype?: DType };
const shapeOf = (shape: number | readonly number[]) => (typeof shape === 'number' ? [shape] : [...shape]);

/**
 * An array from nested JS arrays or a typed array, reshaped to `shape` when given. Numbers default to
 * float32, booleans to bool, typed arrays to the dtype they hold (Float64Array is float64, Uint8Array
 * uint8). A typed array of the type its dtype is stored in (Float32Array for float32, Int8Array for
 * int8, Uint8Array for bool) becomes the array's memory without a copy: do not write to it afterwards.
 * @example np.array([[1, 2], [3, 4]], {dtype: 'int32'})
 * @example np.array([1, 2, 3, 4], {shape: [2, 2]})
 * @example np.array(new Float32Array(6), {shape: [2, 3]}) // shares the Float32Array's memory
 * @category Creation
 */
export function array(data: NestedArray | ArrayLike, opts?: DTypeOpt & { shape?: readonly number[] }): Array {
  const o = checkOptions('array', { ...dtypeOpt, shape: codecs.shape }, opts);
  return fromNested(data, o.dtype, o.shape);
}
/** Alias of {@link array} that returns arrays unchanged. @category Creation */
export const asarray = array;

/** An array of `shape` filled with `value` (a JS integer fills int32, as in JAX). @example np.full([2, 3], 7) @category Creation */
export function full(shape: number | readonly number[], value: ArrayLike, opts?: DTypeOpt): Array {
  const { dtype } = checkOptions('full', dtypeOpt, opts);
  const s = shapeOf(shape);
  if (s.some((d) => !Number.isInteger(d) || d < 0)) throw new ValueError(`full: invalid shape [${s}]`);
  // A JS number is weakly typed: an integer fills int32, as in JAX; a fraction float32.
  const implied =
    typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? 'int32' : undefined;
  const v = asArray(value, dtype ?? implied);
  return P.broadcastInDim(
    v,
    s,
    v.shape.map((_, i) => s.length - v.ndim + i),
  );
}
/** Zeros of `shape`. @example np.zeros([2, 2]) @category Creation */
export const zeros = (shape: number | readonly number[], opts?: DTypeOpt): Array =>
  full(shape, 0, { dtype: opts?.dtype ?? 'float32', ...opts });
/** Ones of `shape`. @category Creation */
export const ones = (shape: number | readonly number[], opts?: DTypeOpt): Array =>
  full(shape, 1, { dtype: opts?.dtype ?? 'float32', ...opts });
/** Fill with `value`, shape and dtype of `x`. @category Creation */
export const fullLike = (x: ShapedArray | ArrayLike, value: ArrayLike, opts?: DTypeOpt): Array => {
  const a = isShaped(x) ? x : asArray(x as ArrayLike, undefined, 'fullLike');
  return full(a.shape, value, { dtype: opts?.dtype ?? a.dtype });
};
const isShaped = (x: unknown): x is ShapedArray =>
  typeof x === 'object' && x !== null && 'shape' in x && 'dtype' in x && globalThis.Array.isArray(x.shape);
/** Zeros shaped like `x`. @category Creation */
export const zerosLike = (x: ShapedArray | ArrayLike, opts?: DTypeOpt): Array => fullLike(x, 0, opts);
/** Ones shaped like `x`. @category Creation */
export const onesLike = (x: ShapedArray | ArrayLike, opts?: DTypeOpt): Array => fullLike(x, 1, opts);

/**
 * Evenly spaced values in `[start, stop)`: `arange(n)` or `arange(start, stop, step)`.
 * Integers give int32 unless a dtype is given.
 * @example np.arange(5) // [0, 1, 2, 3, 4]
 * @category Creation
 */
export function arange(start: number, stop?: number, step = 1, opts?: DTypeOpt): Array {
  const o = checkOptions('arange', dtypeOpt, opts);
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new ValueError('arange: step must not be zero');
  if (![start, stop, step].every(Number.isFinite))
    throw new ValueError(`arange: start, stop and step must be finite numbers, got ${start}, ${stop}, ${step}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = o.dtype ?? ([start, stop, step].every(Number.isInteger) ? 'int32' : 'float32');
  // Integers are counted in int32 (float32 would lose them past 2^24); the ends must fit.
  const count = dtype === 'uint32' || dtype === 'float64' ? dtype : isInteger(dtype) ? 'int32' : 'float32';
  const i = P.iota([n], count, 0);
  if (!isFloat(count) && n > 0) asArray(start + (n - 1) * step, count, 'arange');
  const from = asArray(start, count, 'arange'),
    by = asArray(step, count, 'arange');
  return P.cast(P.add(P.mul(i, P.broadcastInDim(by, [n], [])), P.broadcastInDim(from, [n], [])), dtype);
}

/** `num` evenly spaced values from `start` to `stop` (inclusive unless `endpoint: false`). @category Creation */
export function linspace(start: number, stop: number, num = 50, opts?: DTypeOpt & { endpoint?: boolean }): Array {
  const o = checkOptions('linspace', { ...dtypeOpt, endpoint: codecs.boolean }, opts);
  checkCount('linspace', 'num', num);
  const div = (o.endpoint ?? true) ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  const i = P.iota([num], 'float32', 0);
  return P.cast(P.add(P.mul(i, P.fullLike(i, step)), P.fullLike(i, start)), o.dtype ?? 'float32');
}

/** Identity-like matrix `[n, m]` with ones on diagonal `k`. @category Creation */
export function eye(n: number, m = n, opts?: DTypeOpt & { k?: number }): Array {
  const o = checkOptions('eye', { ...dtypeOpt, k: codecs.number }, opts);
  checkCount('eye', 'n', n);
  checkCount('eye', 'm', m);
  const r = P.iota([n, m], 'int32', 0);
  const c = P.iota([n, m], 'int32', 1);
  return P.cast(P.eq(P.add(r, P.fullLike(r, o.k ?? 0)), c), o.dtype ?? 'float32');
}

/**
 * Ones at and below diagonal `k` of an `[n, m]` matrix, zeros above (a causal mask with `dtype: 'bool'`).
 * @example np.tri(3, 3, { dtype: 'bool' }) // lower triangle true
 * @category Creation
 */
export function tri(n: number, m = n, opts?: DTypeOpt & { k?: number }): Array {
  const o = checkOptions('tri', { ...dtypeOpt, k: codecs.number }, opts);
  checkCount('tri', 'n', n);
  checkCount('tri', 'm', m);
  const k = o.k ?? 0;
  if (!Number.isInteger(k)) throw new ValueError(`tri: k must be an integer, got ${k}`);
  const r = P.iota([n, m], 'int32', 0);
  const c = P.iota([n, m], 'int32', 1);
  return P.cast(P.le(c, P.add(r, P.fullLike(r, k))), o.dtype ?? 'float32');
}

/** `x` with the elements above diagonal `k` of its last two axes set to zero. @category Creation */
export const tril = (x: ArrayLike, k = 0): Array => triangle('tril', x, k, true);
/** `x` with the elements below diagonal `k` of its last two axes set to zero. @category Creation */
export const triu = (x: ArrayLike, k = 0): Array => triangle('triu', x, k, false);

function triangle(op: string, x: ArrayLike, k: number, lower: boolean): Array {
  const a = asArray(x, undefined, op);
  if (a.ndim < 2) throw new ValueError(`${op}: expected at least 2 dimensions, got shape [${a.shape}]`);
  if (!Number.isInteger(k)) throw new ValueError(`${op}: k must be an integer, got ${k}`);
  const [n, m] = a.shape.slice(-2);
  const below = P.broadcastInDim(tri(n, m, { k: lower ? k : k - 1, dtype: 'bool' }), a.shape, [a.ndim - 2, a.ndim - 1]);
  const zero = P.zerosLike(a);
  return lower ? P.select(below, a, zero) : P.select(below, zero, a);
}
