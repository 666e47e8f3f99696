/**
 * More ways to build and rearrange arrays: stacking along named directions, splitting into
 * unequal parts, rotations, diagonals, grids, index tables and polynomials.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { type DType, isFloat } from '../core/dtype.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import { normAxis } from '../core/shape.js';
import * as P from '../primitives/index.js';
import { asArray, prepare } from './convert.js';
import { arange, array, fullLike, linspace, zeros, type DTypeOpt } from './creation.js';
import { take } from './indexing.js';
import { add, multiply, power, where } from './math.js';
import { sum } from './reductions.js';
import { concatenate, expandDims, flip, ravel, reshape, split, stack, swapaxes, transpose } from './shapes.js';

/** `x` as at least 1-D. @category Shapes */
export const atleast1d = (x: ArrayLike): Array => {
  const a = asArray(x);
  return a.ndim >= 1 ? a : reshape(a, [1]);
};
/** `x` as at least 2-D (a vector becomes a row). @category Shapes */
export const atleast2d = (x: ArrayLike): Array => {
  const a = asArray(x);
  return a.ndim >= 2 ? a : reshape(a, [1, a.size]);
};
/** `x` as at least 3-D (`[n]` becomes `[1, n, 1]`, `[m, n]` becomes `[m, n, 1]`). @category Shapes */
export const atleast3d = (x: ArrayLike): Array => {
  const a = asArray(x);
  if (a.ndim >= 3) return a;
  return a.ndim === 2 ? reshape(a, [...a.shape, 1]) : reshape(a, [1, a.size, 1]);
};
/** Stacks along the second axis (the first for 1-D arrays). @category Shapes */
export const hstack = (xs: readonly ArrayLike[]): Array => {
  const arrays = xs.map(atleast1d);
  return concatenate(arrays, { axis: arrays[0]?.ndim === 1 ? 0 : 1 });
};
/** Stacks along the first axis (vectors become rows). @category Shapes */
export const vstack = (xs: readonly ArrayLike[]): Array => concatenate(xs.map(atleast2d), { axis: 0 });
/** Alias of {@link vstack}. @category Shapes */
export const rowStack = vstack;
/** Stacks along the third axis. @category Shapes */
export const dstack = (xs: readonly ArrayLike[]): Array => concatenate(xs.map(atleast3d), { axis: 2 });
/** Stacks 1-D arrays as columns (2-D arrays as they are). @category Shapes */
export const columnStack = (xs: readonly ArrayLike[]): Array =>
  concatenate(
    xs.map((x) => {
      const a = asArray(x);
      return a.ndim < 2 ? reshape(a, [a.size, 1]) : a;
    }),
    { axis: 1 },
  );
/** The arrays along `axis` (default 0), as a list: the inverse of `stack`. @category Shapes */
export function unstack(x: ArrayLike, opts?: { axis?: number }): Array[] {
  const { axis = 0 } = checkOptions('unstack', { axis: codecs.number }, opts);
  const a = asArray(x);
  const ax = normAxis('unstack', axis, a.ndim);
  return globalThis.Array.from({ length: a.shape[ax] }, (_, i) => take(a, i, { axis: ax }));
}
/**
 * Splits into `sections` parts that may differ in size by one (the first ones larger), or at indices.
 * @category Shapes
 */
export function arraySplit(x: ArrayLike, sections: number | readonly number[], opts?: { axis?: number }): Array[] {
  const { axis = 0 } = checkOptions('arraySplit', { axis: codecs.number }, opts);
  const a = asArray(x);
  if (typeof sections !== 'number') return split(a, sections, { axis });
  if (!Number.isSafeInteger(sections) || sections <= 0 || sections > 2 ** 16)
    throw new ValueError(`arraySplit: sections must be a positive integer, got ${sections}`);
  const n = a.shape[normAxis('arraySplit', axis, a.ndim)];
  const [each, extra] = [Math.floor(n / sections), n % sections];
  const cuts = globalThis.Array.from({ length: sections - 1 }, (_, i) => (i + 1) * each + Math.min(i + 1, extra));
  return split(a, cuts, { axis });
}
/** Splits along the second axis (the first for 1-D). @category Shapes */
export const hsplit = (x: ArrayLike, sections: number | readonly number[]): Array[] =>
  split(x, sections, { axis: asArray(x).ndim === 1 ? 0 : 1 });
/** Splits along the first axis. @category Shapes */
export const vsplit = (x: ArrayLike, sections: number | readonly number[]): Array[] => split(x, sections, { axis: 0 });
/** Splits along the third axis. @category Shapes */
export const dsplit = (x: ArrayLike, sections: number | readonly number[]): Array[] => split(x, sections, { axis: 2 });
/** Reverses the first axis. @category Shapes */
export const flipud = (x: ArrayLike): Array => flip(x, { axis: 0 });
/** Reverses the second axis. @category Shapes */
export const fliplr = (x: ArrayLike): Array => flip(x, { axis: 1 });
/** Rotates by 90° `k` times in the plane of `axes` (default the first two), counter-clockwise. @category Shapes */
export function rot90(x: ArrayLike, k = 1, opts?: { axes?: [number, number] }): Array {
  const o = checkOptions('rot90', { axes: t.tuple([t.number, t.number]) }, opts);
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`rot90: needs at least 2 axes, got ${fmtShape(a.shape)}`);
  if (!Number.isInteger(k)) throw new ValueError(`rot90: k must be an integer, got ${k}`);
  const [a0, a1] = (o.axes ?? [0, 1]).map((ax) => normAxis('rot90', ax, a.ndim));
  if (a0 === a1) throw new ValueError(`rot90: the two axes must differ, got [${o.axes}]`);
  const turns = ((k % 4) + 4) % 4;
  if (turns === 0) return a;
  if (turns === 2) return flip(a, { axis: [a0, a1] });
  return turns === 1 ? swapaxes(flip(a, { axis: a1 }), a0, a1) : flip(swapaxes(a, a0, a1), { axis: a1 });
}
/** `values` appended to `x` (both flattened without `axis`). @category Shapes */
export function append(x: ArrayLike, values: ArrayLike, opts?: { axis?: number }): Array {
  const o = checkOptions('append', { axis: codecs.number }, opts);
  return o.axis === undefined ? concatenate([ravel(x), ravel(values)]) : concatenate([x, values], { axis: o.axis });
}

/**
 * The `k`-th diagonal of a matrix, or a matrix with a vector on its `k`-th diagonal.
 * @example np.diag([1, 2]) // [[1, 0], [0, 2]]
 * @category Creation
 */
export function diag(v: ArrayLike, k = 0): Array {
  const a = asArray(v);
  if (a.ndim === 2) return diagonal(a, { offset: k });
  if (a.ndim !== 1) throw new ShapeError(`diag: expects a 1-D or 2-D array, got ${fmtShape(a.shape)}`);
  const n = a.size + Math.abs(k);
  // Row i holds v[i - max(0, -k)] at column i + k.
  const idx = new Int32Array(n * n),
    mask = new Uint8Array(n * n);
  for (let i = 0; i < a.size; i++) {
    const [r, c] = [i + Math.max(0, -k), i + Math.max(0, k)];
    idx[r * n + c] = i;
    mask[r * n + c] = 1;
  }
  const vals = take(a.size ? a : zeros([1], { dtype: a.dtype }), reshape(array(idx), [n, n]));
  return where(reshape(array(mask, { dtype: 'bool' }), [n, n]), vals, P.zerosLike({ shape: [n, n], dtype: a.dtype }));
}
/** `v` flattened onto the `k`-th diagonal of a matrix. @category Creation */
export const diagflat = (v: ArrayLike, k = 0): Array => diag(ravel(v), k);
/**
 * The diagonal of `axis1`, `axis2` (default the first two), moved last; `offset` as in NumPy.
 * @category Linear algebra
 */
export function diagonal(x: ArrayLike, opts?: { offset?: number; axis1?: number; axis2?: number }): Array {
  const o = checkOptions('diagonal', { offset: codecs.number, axis1: codecs.number, axis2: codecs.number }, opts);
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`diagonal: needs at least 2 axes, got ${fmtShape(a.shape)}`);
  const [d1, d2] = [normAxis('diagonal', o.axis1 ?? 0, a.ndim), normAxis('diagonal', o.axis2 ?? 1, a.ndim)];
  if (d1 === d2) throw new ValueError('diagonal: axis1 and axis2 must differ');
  const rest = a.shape.map((_, i) => i).filter((i) => i !== d1 && i !== d2);
  const moved = transpose(a, [...rest, d1, d2]);
  const [m, n] = [a.shape[d1], a.shape[d2]];
  const offset = o.offset ?? 0;
  const len = Math.max(0, Math.min(m + Math.min(offset, 0), n - Math.max(offset, 0)));
  const flat = reshape(moved, [...rest.map((i) => a.shape[i]), m * n]);
  const at = globalThis.Array.from({ length: len }, (_, i) => (i + Math.max(0, -offset)) * n + i + Math.max(0, offset));
  return take(flat, array(at, { dtype: 'int32' }), { axis: -1 });
}
/** The sum along a diagonal (see {@link diagonal}). @category Linear algebra */
export const trace = (x: ArrayLike, opts?: { offset?: number; axis1?: number; axis2?: number }): Array =>
  sum(diagonal(x, opts), { axis: -1 });
/** The Kronecker product. @category Linear algebra */
export function kron(x: ArrayLike, y: ArrayLike): Array {
  const [a0, b0] = [asArray(x), asArray(y)];
  const nd = Math.max(a0.ndim, b0.ndim);
  const a = reshape(a0, [...new globalThis.Array(nd - a0.ndim).fill(1), ...a0.shape]);
  const b = reshape(b0, [...new globalThis.Array(nd - b0.ndim).fill(1), ...b0.shape]);
  // a[i] * b[j] at (i, j) interleaved, then merged pairwise.
  const ea = reshape(
    a,
    a.shape.flatMap((d) => [d, 1]),
  );
  const eb = reshape(
    b,
    b.shape.flatMap((d) => [1, d]),
  );
  return reshape(
    multiply(ea, eb),
    a.shape.map((d, i) => d * b.shape[i]),
  );
}

/**
 * Coordinate grids from 1-D coordinate arrays: `indexing` 'xy' (default, Cartesian: the first two
 * outputs' axes swapped) or 'ij' (matrix).
 * @example const [X, Y] = np.meshgrid(np.linspace(0, 1, 3), np.linspace(0, 1, 2)); // X: [2, 3]
 * @category Creation
 */
export function meshgrid(xs: readonly ArrayLike[], opts?: { indexing?: 'xy' | 'ij' }): Array[] {
  const o = checkOptions('meshgrid', { indexing: t.keyof({ xy: null, ij: null }) }, opts);
  const arrays = xs.map((x) => ravel(x));
  const shape = arrays.map((a) => a.size);
  const xy = (o.indexing ?? 'xy') === 'xy' && arrays.length >= 2;
  if (xy) [shape[0], shape[1]] = [shape[1], shape[0]];
  return arrays.map((a, i) => {
    const dim = xy && i < 2 ? 1 - i : i;
    return P.broadcastInDim(a, shape, [dim]);
  });
}
/** The n×n identity. @category Creation */
export const identity = (n: number, opts?: DTypeOpt): Array =>
  P.cast(P.eyeOf([n, n], 'float32'), opts?.dtype ?? 'float32');
/** An uninitialised array in NumPy; zeros here (arrays are immutable). @category Creation */
export const empty = (shape: number | readonly number[], opts?: DTypeOpt): Array => zeros(shape, opts);
/** Zeros of `x`'s shape and dtype (see {@link empty}). @category Creation */
export const emptyLike = (x: ArrayLike, opts?: DTypeOpt): Array => fullLike(x, 0, opts);
/** `num` numbers evenly spaced on a log scale: `base ** linspace(start, stop)`. @category Creation */
export function logspace(
  start: number,
  stop: number,
  num = 50,
  opts?: DTypeOpt & { endpoint?: boolean; base?: number },
): Array {
  const o = checkOptions('logspace', { dtype: codecs.dtype, endpoint: codecs.boolean, base: codecs.number }, opts);
  const y = power(o.base ?? 10, linspace(start, stop, num, { endpoint: o.endpoint ?? true, dtype: floatOf(o.dtype) }));
  return o.dtype ? P.cast(y, o.dtype) : y;
}
const floatOf = (d?: DType) => (d && isFloat(d) ? d : 'float32');
/** `num` numbers evenly spaced on a log scale between `start` and `stop` themselves. @category Creation */
export function geomspace(start: number, stop: number, num = 50, opts?: DTypeOpt & { endpoint?: boolean }): Array {
  const o = checkOptions('geomspace', { dtype: codecs.dtype, endpoint: codecs.boolean }, opts);
  if (start === 0 || stop === 0 || Math.sign(start) !== Math.sign(stop))
    throw new ValueError(`geomspace: start and stop must be non-zero with one sign, got ${start} and ${stop}`);
  const sign = Math.sign(start);
  const y = multiply(
    sign,
    power(
      10,
      linspace(Math.log10(Math.abs(start)), Math.log10(Math.abs(stop)), num, {
        endpoint: o.endpoint ?? true,
        dtype: 'float64',
      }),
    ),
  );
  return P.cast(y, floatOf(o.dtype));
}
/** Row and column indices of the upper triangle of an n×m matrix (from diagonal `k`). @category Creation */
export const triuIndices = (n: number, k = 0, m = n): [Array, Array] => triangleIndices('triuIndices', n, m, k, false);
/** Row and column indices of the lower triangle. @category Creation */
export const trilIndices = (n: number, k = 0, m = n): [Array, Array] => triangleIndices('trilIndices', n, m, k, true);
function triangleIndices(op: string, n: number, m: number, k: number, lower: boolean): [Array, Array] {
  for (const v of [n, m])
    if (!Number.isInteger(v) || v < 0) throw new ValueError(`${op}: sizes must be non-negative integers, got ${v}`);
  const rows: number[] = [],
    cols: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++)
      if (lower ? j - i <= k : j - i >= k) {
        rows.push(i);
        cols.push(j);
      }
  return [array(rows, { dtype: 'int32' }), array(cols, { dtype: 'int32' })];
}
/** The index grids of `shape`: one int32 array per axis, stacked. @category Creation */
export function indices(shape: readonly number[]): Array {
  const grids = shape.map((_, i) => P.iota(shape, 'int32', i));
  return stack(grids.length ? grids : [zeros([], { dtype: 'int32' })], { axis: 0 });
}
/** The Vandermonde matrix: columns `x^(n-1), ..., x, 1` (`increasing` reverses them). @category Creation */
export function vander(x: ArrayLike, opts?: { n?: number; increasing?: boolean }): Array {
  const o = checkOptions('vander', { n: codecs.number, increasing: codecs.boolean }, opts);
  const a = asArray(x);
  if (a.ndim !== 1) throw new ShapeError(`vander: expects a 1-D array, got ${fmtShape(a.shape)}`);
  const n = o.n ?? a.size;
  const exps = o.increasing ? arange(n) : arange(n - 1, -1, -1);
  return power(expandDims(a, 1), P.cast(exps, a.dtype === 'bool' ? 'int32' : a.dtype));
}
/**
 * Values chosen by the first true condition: `condlist[i]` picks `choicelist[i]`, `default` elsewhere.
 * @category Logic
 */
export function select(
  condlist: readonly ArrayLike[],
  choicelist: readonly ArrayLike[],
  defaultValue: ArrayLike = 0,
): Array {
  if (!globalThis.Array.isArray(condlist) || !globalThis.Array.isArray(choicelist))
    throw new ValueError('select: condlist and choicelist must be lists of arrays');
  if (condlist.length !== choicelist.length)
    throw new ValueError(`select: ${condlist.length} conditions for ${choicelist.length} choices`);
  let r = asArray(defaultValue);
  for (let i = condlist.length - 1; i >= 0; i--) r = where(condlist[i], choicelist[i], r);
  return r;
}
/** The polynomial with coefficients `p` (highest power first) at `x`, by Horner's rule. @category Math */
export function polyval(p: ArrayLike, x: ArrayLike): Array {
  const coeffs = asArray(p);
  if (coeffs.ndim !== 1) throw new ShapeError(`polyval: coefficients must be 1-D, got ${fmtShape(coeffs.shape)}`);
  let y: Array = multiply(x, 0);
  for (let i = 0; i < coeffs.size; i++) y = add(multiply(y, x), take(coeffs, i));
  return y;
}
/** The integral of `y` over `x` (or spacing `dx`) by the trapezoid rule along `axis`. @category Math */
export function trapezoid(y: ArrayLike, opts?: { x?: ArrayLike; dx?: number; axis?: number }): Array {
  const o = checkOptions('trapezoid', { x: codecs.any, dx: codecs.number, axis: codecs.number }, opts);
  const a = asArray(y);
  const axis = normAxis('trapezoid', o.axis ?? -1, a.ndim);
  const n = a.shape[axis];
  if (n < 2) return sum(multiply(a, 0), { axis });
  const part = (from: number, to: number, v: Array) =>
    take(v, arange(from, to).astype('int32'), { axis: v === a ? axis : -1 });
  const mid = multiply(add(part(1, n, a), part(0, n - 1, a)), 0.5);
  if (o.x === undefined) return multiply(sum(mid, { axis }), o.dx ?? 1);
  const xs = asArray(o.x as ArrayLike);
  const widths = P.sub(...(prepare('trapezoid', [part(1, n, xs), part(0, n - 1, xs)]) as [Array, Array]));
  const shaped =
    xs.ndim === 1
      ? reshape(
          widths,
          a.shape.map((d, i) => (i === axis ? n - 1 : 1)),
        )
      : widths;
  return sum(multiply(mid, shaped), { axis });
}
