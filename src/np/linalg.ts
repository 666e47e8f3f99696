/**
 * `np.linalg`: linear algebra with `jax.numpy.linalg`'s semantics. Leading axes are a batch and
 * broadcast; integer inputs compute in float32. Everything is built on the decompositions of
 * `lax.linalg` (cholesky, triangular solves, LU, Householder QR, Jacobi eigh and SVD), so
 * derivatives, `vmap` and `jit` come from theirs.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { type DType, isFloat } from '../core/dtype.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import { broadcastShapes, normAxis } from '../core/shape.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo } from './convert.js';
import { matmul } from './contractions.js';
import { finfo } from './dtypes.js';
import { abs, add, divide, log, multiply, power, remainder, sign, sqrt, where } from './math.js';
import { take, takeAlongAxis } from './indexing.js';
import { max, min, prod, sum } from './reductions.js';
import { expandDims, moveaxis, squeeze, stack } from './shapes.js';

/** The operand as a float array (integers and bools become float32, as in JAX). */
function inexact(x: ArrayLike): Array {
  const a = asArray(x);
  return isFloat(a.dtype) ? a : P.cast(a, 'float32');
}
function matrix(op: string, x: ArrayLike, square = false): Array {
  const a = inexact(x);
  if (a.ndim < 2) throw new ShapeError(`linalg.${op}: expects a matrix ([..., m, n]), got shape ${fmtShape(a.shape)}`);
  if (square && a.shape[a.ndim - 1] !== a.shape[a.ndim - 2])
    throw new ShapeError(`linalg.${op}: expects square matrices, got shape ${fmtShape(a.shape)}`);
  return a;
}
const eps = (d: DType) => finfo(d).eps;
const diagonal = (x: Array) => P.reduceSum(P.mul(x, P.eyeOf(x.shape, x.dtype)), [x.ndim - 1]);

/**
 * The lower (or, with `upper`, upper) Cholesky factor of each symmetric positive-definite matrix.
 * Only the symmetric part of `a` is read, as in JAX; not positive definite gives NaN.
 * @example np.linalg.cholesky([[4, 2], [2, 3]]) // [[2, 0], [1, 1.414]]
 * @category Linear algebra
 */
export function cholesky(a: ArrayLike, opts?: { upper?: boolean }): Array {
  const { upper } = checkOptions('linalg.cholesky', { upper: codecs.boolean }, opts);
  const l = P.cholesky(matrix('cholesky', a, true));
  return upper ? P.mT(l) : l;
}

/**
 * Solves `a x = b` by LU decomposition with partial pivoting. `b` is a vector (`[m]`) or a stack of
 * right-hand sides (`[..., m, k]`); leading axes broadcast. A singular `a` gives infinities or NaN.
 * @example np.linalg.solve([[3, 1], [1, 2]], [9, 8]) // [2, 3]
 * @category Linear algebra
 */
export function solve(a: ArrayLike, b: ArrayLike): Array {
  const am = matrix('solve', a, true);
  const bv = asArray(b);
  const n = am.shape[am.ndim - 1];
  const vector = bv.ndim === 1;
  let bm = vector ? expandDims(bv, 1) : bv;
  if (bm.ndim < 2 || bm.shape[bm.ndim - 2] !== n)
    throw new ShapeError(`linalg.solve: a ${fmtShape(am.shape)} and b ${fmtShape(bv.shape)} do not match`);
  bm = P.cast(bm, am.dtype);
  const batch = broadcastShapes('linalg.solve', am.shape.slice(0, -2), bm.shape.slice(0, -2));
  const A = broadcastTo(am, [...batch, n, n]);
  const B = broadcastTo(bm, [...batch, ...bm.shape.slice(-2)]);
  const [lu, , perm] = P.lu(A);
  const rows = P.broadcastInDim(
    perm,
    [...perm.shape, B.shape[B.ndim - 1]],
    perm.shape.map((_, i) => i),
  );
  const permuted = takeAlongAxis(B, rows, -2);
  const y = P.triangularSolve(lu, permuted, { leftSide: true, lower: true, unitDiagonal: true });
  const x = P.triangularSolve(lu, y, { leftSide: true, lower: false });
  return vector ? squeeze(x, { axis: x.ndim - 1 }) : x;
}

/**
 * The inverse of each square matrix (`solve(a, I)`).
 * @example np.linalg.inv([[2, 0], [0, 4]]) // [[0.5, 0], [0, 0.25]]
 * @category Linear algebra
 */
export function inv(a: ArrayLike): Array {
  const am = matrix('inv', a, true);
  return solve(am, P.eyeOf(am.shape, am.dtype));
}

/** Sign of the permutation of each LU factorization: (-1)^(rows swapped). */
function pivotSign(pivots: Array, dtype: DType): Array {
  const n = pivots.shape[pivots.ndim - 1];
  const swapped = P.ne(pivots, P.iota(pivots.shape, 'int32', pivots.ndim - 1));
  const count = P.reduceSum(P.cast(swapped, 'int32'), [pivots.ndim - 1]);
  const odd = P.cast(P.eq(remainder(count, 2), P.fullLike(count, 1)), dtype);
  return n === 0 ? P.fullLike(odd, 1) : P.sub(P.fullLike(odd, 1), P.mul(odd, P.fullLike(odd, 2)));
}

/**
 * The determinant of each square matrix, from its LU factorization.
 * @example np.linalg.det([[1, 2], [3, 4]]) // -2
 * @category Linear algebra
 */
export function det(a: ArrayLike): Array {
  const am = matrix('det', a, true);
  const [lu, pivots] = P.lu(am);
  return multiply(pivotSign(pivots, am.dtype), prod(diagonal(lu), { axis: -1 }));
}

/**
 * `[sign, logabsdet]` of each square matrix's determinant, without overflow: `det = sign *
 * exp(logabsdet)`; a singular matrix gives sign 0 and logabsdet -inf.
 * @example const [sign, logdet] = np.linalg.slogdet(covariance);
 * @category Linear algebra
 */
export function slogdet(a: ArrayLike): [Array, Array] {
  const am = matrix('slogdet', a, true);
  const [lu, pivots] = P.lu(am);
  const d = diagonal(lu);
  const s = multiply(pivotSign(pivots, am.dtype), prod(sign(d), { axis: -1 }));
  return [s, sum(log(abs(d)), { axis: -1 })];
}

/**
 * QR decomposition by Householder reflections: `[q, r]` with `q` orthonormal columns and `r` upper
 * triangular; `mode` 'reduced' (default), 'complete', or 'r' (r alone).
 * @example const [q, r] = np.linalg.qr(a);
 * @category Linear algebra
 */
export function qr(a: ArrayLike, opts: { mode: 'r' }): Array;
export function qr(a: ArrayLike, opts?: { mode?: 'reduced' | 'complete' }): [Array, Array];
export function qr(a: ArrayLike, opts?: { mode?: 'reduced' | 'complete' | 'r' }): [Array, Array] | Array {
  const { mode = 'reduced' } = checkOptions(
    'linalg.qr',
    { mode: t.keyof({ reduced: null, complete: null, r: null }) },
    opts,
  );
  const [q, r] = P.qr(matrix('qr', a), mode === 'complete');
  return mode === 'r' ? r : [q, r];
}

/**
 * Singular value decomposition `a = u diag(s) vh`: `[u, s, vh]` with descending `s`
 * (`fullMatrices` true by default, as NumPy), or `s` alone with `computeUv: false`.
 * Derivatives need distinct singular values (and reduced factors unless square).
 * @example const [u, s, vh] = np.linalg.svd(a, { fullMatrices: false });
 * @category Linear algebra
 */
export function svd(a: ArrayLike, opts?: { fullMatrices?: boolean; computeUv?: true }): [Array, Array, Array];
export function svd(a: ArrayLike, opts: { fullMatrices?: boolean; computeUv: false }): Array;
export function svd(
  a: ArrayLike,
  opts?: { fullMatrices?: boolean; computeUv?: boolean },
): [Array, Array, Array] | Array {
  const o = checkOptions('linalg.svd', { fullMatrices: codecs.boolean, computeUv: codecs.boolean }, opts);
  const computeUv = o.computeUv ?? true;
  const outs = P.svd(matrix('svd', a), { fullMatrices: o.fullMatrices ?? true, computeUv });
  return computeUv ? [outs[1], outs[0], outs[2]] : outs[0];
}
/** The singular values, descending (`svd(a, { computeUv: false })`). @category Linear algebra */
export const svdvals = (a: ArrayLike): Array => svd(a, { computeUv: false });

/** `UPLO`: which triangle to read ('L' or 'U'); omitted, the symmetric part `(a + aᵀ)/2` (JAX's default). */
function symmetricFrom(op: string, a: ArrayLike, uplo: 'L' | 'U' | undefined): Array {
  const m = matrix(op, a, true);
  if (!uplo) return m;
  const n = m.shape[m.ndim - 1];
  const row = P.iota(m.shape, 'int32', m.ndim - 2),
    col = P.iota(m.shape, 'int32', m.ndim - 1);
  const inTriangle = uplo === 'L' ? P.le(col, row) : P.le(row, col);
  const tri = P.select(inTriangle, m, P.zerosLike(m));
  const strict = P.select(P.eq(row, col), P.zerosLike(m), tri);
  return n === 0 ? m : P.add(tri, P.mT(strict));
}
const uploOpt = { UPLO: t.keyof({ L: null, U: null }) };

/**
 * Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices: `[w, v]` with
 * `a v = v diag(w)`. Each eigenvector's largest component is positive. Derivatives need distinct
 * eigenvalues (the eigenvectors of a repeated one are not unique).
 * @example const [w, v] = np.linalg.eigh([[2, 1], [1, 2]]); // w = [1, 3]
 * @category Linear algebra
 */
export function eigh(a: ArrayLike, opts?: { UPLO?: 'L' | 'U' }): [Array, Array] {
  const { UPLO } = checkOptions('linalg.eigh', uploOpt, opts);
  const [v, w] = P.eigh(symmetricFrom('eigh', a, UPLO));
  return [w, v];
}
/** Eigenvalues of symmetric matrices, ascending. @category Linear algebra */
export function eigvalsh(a: ArrayLike, opts?: { UPLO?: 'L' | 'U' }): Array {
  const { UPLO } = checkOptions('linalg.eigvalsh', uploOpt, opts);
  return P.eigh(symmetricFrom('eigvalsh', a, UPLO))[1];
}

/** `1 / s` where `s > cutoff`, else 0. */
const invertAbove = (s: Array, cutoff: Array) => where(P.gt(s, cutoff), divide(1, where(P.gt(s, cutoff), s, 1)), 0);

/**
 * The Moore–Penrose pseudo-inverse by SVD; singular values at most `rtol` times the largest
 * (default `10 · max(m, n) · eps`, as JAX) count as zero.
 * @category Linear algebra
 */
export function pinv(a: ArrayLike, opts?: { rtol?: number }): Array {
  const { rtol } = checkOptions('linalg.pinv', { rtol: codecs.number }, opts);
  const am = matrix('pinv', a);
  const [m, n] = am.shape.slice(-2);
  if (m === 0 || n === 0) return P.mT(am);
  const [u, s, vh] = svd(am, { fullMatrices: false });
  const cutoff = multiply(max(s, { axis: -1, keepdims: true }), rtol ?? 10 * Math.max(m, n) * eps(am.dtype));
  const sInv = invertAbove(s, broadcastTo(cutoff, s.shape));
  return matmul(P.mT(vh), multiply(expandDims(sInv, -1), P.mT(u)));
}

/**
 * Least squares `min ‖a x − b‖` by SVD: `[x, residuals, rank, s]`. `residuals` are the squared
 * residual norms (always computed, as JAX's default), `rank` counts singular values above
 * `rcond · s_max` (default `eps · max(m, n)`).
 * @category Linear algebra
 */
export function lstsq(a: ArrayLike, b: ArrayLike, opts?: { rcond?: number }): [Array, Array, Array, Array] {
  const { rcond } = checkOptions('linalg.lstsq', { rcond: codecs.number }, opts);
  const am = matrix('lstsq', a);
  if (am.ndim !== 2) throw new ShapeError(`linalg.lstsq: expects a 2-D a, got ${fmtShape(am.shape)}`);
  const bv = P.cast(asArray(b), am.dtype);
  const [m, n] = am.shape;
  if ((bv.ndim !== 1 && bv.ndim !== 2) || bv.shape[0] !== m)
    throw new ShapeError(`linalg.lstsq: a ${fmtShape(am.shape)} and b ${fmtShape(bv.shape)} do not match`);
  const [u, s, vh] = svd(am, { fullMatrices: false });
  const k = Math.min(m, n);
  const cutoff = k === 0 ? s : multiply(max(s, { axis: -1, keepdims: true }), rcond ?? eps(am.dtype) * Math.max(m, n));
  const sInv = invertAbove(s, broadcastTo(cutoff, s.shape));
  const rank = sum(P.cast(P.gt(s, broadcastTo(cutoff, s.shape)), 'int32'));
  const bm = bv.ndim === 1 ? expandDims(bv, 1) : bv;
  const x = matmul(P.mT(vh), multiply(expandDims(sInv, -1), matmul(P.mT(u), bm)));
  const residual = sum(power(P.sub(bm, matmul(am, x)), 2), { axis: 0 });
  return bv.ndim === 1 ? [squeeze(x, { axis: 1 }), squeeze(residual, { axis: 0 }), rank, s] : [x, residual, rank, s];
}

/** A norm order: a number, 'fro', 'nuc', or `null` for the default. @category Linear algebra */
export type Ord = number | 'fro' | 'nuc' | null;

/**
 * Vector and matrix norms as `np.linalg.norm`: over `axis` (one axis: a vector norm of order
 * `ord` — 2 by default, any p, ±inf, 0 counts non-zeros; two axes: a matrix norm — 'fro' by
 * default, 'nuc', ±1, ±2, ±inf). Without `axis`, a 1-D or 2-D input is normed whole, and
 * a larger one is flattened (only without `ord`).
 * @example np.linalg.norm([3, 4]) // 5
 * @example np.linalg.norm(a, { ord: 2, axis: [-2, -1] }) // largest singular value per matrix
 * @category Linear algebra
 */
export function norm(x: ArrayLike, opts?: { ord?: Ord; axis?: number | number[] | null; keepdims?: boolean }): Array {
  const o = checkOptions(
    'linalg.norm',
    {
      ord: t.union([t.number, t.literal('fro'), t.literal('nuc'), t.null]),
      axis: codecs.axis,
      keepdims: codecs.boolean,
    },
    opts,
  );
  const a = inexact(x);
  const ord = o.ord ?? null;
  const keepdims = o.keepdims ?? false;
  let axes: number[];
  if (o.axis === undefined || o.axis === null) {
    if (ord !== null && a.ndim > 2)
      throw new ValueError(`linalg.norm: ord ${ord} needs an axis for a ${a.ndim}-D input ${fmtShape(a.shape)}`);
    if (ord === null) {
      const r = sqrt(sum(multiply(a, a)));
      return keepdims
        ? P.reshape(
            r,
            a.shape.map(() => 1),
          )
        : r;
    }
    axes = a.shape.map((_, i) => i);
  } else axes = (typeof o.axis === 'number' ? [o.axis] : o.axis).map((ax) => normAxis('linalg.norm', ax, a.ndim));
  if (axes.length === 1) return vectorNorm(a, axes[0], ord, keepdims);
  if (axes.length === 2 && axes[0] !== axes[1]) return matrixNormOver(a, axes as [number, number], ord, keepdims);
  throw new ValueError(`linalg.norm: axis must name one or two distinct axes, got [${axes}]`);
}

function vectorNorm(a: Array, axis: number, ord: Ord, keepdims: boolean): Array {
  const r = { axis, keepdims };
  const mag = abs(a);
  if (ord === null || ord === 2) return sqrt(sum(multiply(a, a), r));
  if (ord === Infinity) return max(mag, r);
  if (ord === -Infinity) return min(mag, r);
  if (ord === 0) return sum(P.cast(P.ne(a, P.zerosLike(a)), a.dtype), r);
  if (ord === 1) return sum(mag, r);
  if (typeof ord === 'string')
    throw new ValueError(`linalg.norm: ord '${ord}' is a matrix norm; a vector norm was asked`);
  return power(sum(power(mag, ord), r), 1 / ord);
}

function matrixNormOver(a: Array, [r, c]: [number, number], ord: Ord, keepdims: boolean): Array {
  const restore = (y: Array) =>
    keepdims
      ? P.reshape(
          y,
          a.shape.map((d, i) => (i === r || i === c ? 1 : d)),
        )
      : y;
  if (ord === null || ord === 'fro') return restore(sqrt(sum(multiply(a, a), { axis: [r, c] })));
  if (ord === 1 || ord === -1 || ord === Infinity || ord === -Infinity) {
    // Column sums for ±1, row sums for ±inf; the axis left after the first sum shifts if it came later.
    const [first, second] = Math.abs(ord) === 1 ? [r, c] : [c, r];
    const sums = sum(abs(a), { axis: first });
    const along = second > first ? second - 1 : second;
    return restore(ord > 0 ? max(sums, { axis: along }) : min(sums, { axis: along }));
  }
  if (ord === 2 || ord === -2 || ord === 'nuc') {
    // Move the two axes last, then reduce the singular values.
    const m = moveaxis(moveaxis(a, r, -1), c > r ? c - 1 : c, -1);
    const moved = r < c ? P.mT(m) : m;
    const s = svdvals(moved);
    const y = ord === 2 ? max(s, { axis: -1 }) : ord === -2 ? min(s, { axis: -1 }) : sum(s, { axis: -1 });
    return restore(y);
  }
  throw new ValueError(`linalg.norm: invalid matrix norm order ${String(ord)}`);
}

/** Vector norms (`norm` over one axis, or the whole flattened array), as the array API. @category Linear algebra */
export function vectorNormOf(x: ArrayLike, opts?: { ord?: number; axis?: number; keepdims?: boolean }): Array {
  const o = checkOptions(
    'linalg.vectorNorm',
    { ord: codecs.number, axis: codecs.number, keepdims: codecs.boolean },
    opts,
  );
  const a = inexact(x);
  if (o.axis === undefined) return vectorNorm(P.reshape(a, [a.size]), 0, o.ord ?? 2, false);
  return vectorNorm(a, normAxis('linalg.vectorNorm', o.axis, a.ndim), o.ord ?? 2, o.keepdims ?? false);
}
export { vectorNormOf as vectorNorm };
/** Matrix norms over the last two axes, as the array API. @category Linear algebra */
export function matrixNorm(x: ArrayLike, opts?: { ord?: Ord; keepdims?: boolean }): Array {
  const o = checkOptions(
    'linalg.matrixNorm',
    { ord: t.union([t.number, t.literal('fro'), t.literal('nuc'), t.null]), keepdims: codecs.boolean },
    opts,
  );
  const a = matrix('matrixNorm', x);
  return matrixNormOver(a, [a.ndim - 2, a.ndim - 1], o.ord ?? 'fro', o.keepdims ?? false);
}

/**
 * The condition number: `norm(a, p) · norm(inv(a), p)`, or for `p` 2/-2/none the ratio of the
 * extreme singular values.
 * @category Linear algebra
 */
export function cond(x: ArrayLike, opts?: { p?: Ord }): Array {
  const { p = null } = checkOptions(
    'linalg.cond',
    { p: t.union([t.number, t.literal('fro'), t.literal('nuc'), t.null]) },
    opts,
  );
  const a = matrix('cond', x);
  if (p === null || p === 2 || p === -2) {
    const s = svdvals(a);
    const [hi, lo] = [max(s, { axis: -1 }), min(s, { axis: -1 })];
    return p === -2 ? divide(lo, hi) : divide(hi, lo);
  }
  const axes = [a.ndim - 2, a.ndim - 1];
  return multiply(norm(a, { ord: p, axis: axes }), norm(inv(a), { ord: p, axis: axes }));
}

/**
 * `a` raised to the integer power `n` by repeated squaring (`n < 0` inverts first, `n = 0` is the identity).
 * @example np.linalg.matrixPower([[1, 1], [0, 1]], 3) // [[1, 3], [0, 1]]
 * @category Linear algebra
 */
export function matrixPower(a: ArrayLike, n: number): Array {
  if (!Number.isInteger(n)) throw new ValueError(`linalg.matrixPower: the exponent must be an integer, got ${n}`);
  const am0 = asArray(a);
  if (am0.ndim < 2 || am0.shape[am0.ndim - 1] !== am0.shape[am0.ndim - 2])
    throw new ShapeError(`linalg.matrixPower: expects square matrices, got shape ${fmtShape(am0.shape)}`);
  if (n === 0) return P.cast(P.eyeOf(am0.shape, 'float32'), am0.dtype === 'bool' ? 'int32' : am0.dtype);
  let base = n < 0 ? inv(am0) : am0;
  let result: Array | null = null;
  for (let k = Math.abs(n); k > 0; k = Math.floor(k / 2)) {
    if (k % 2) result = result ? matmul(result, base) : base;
    if (k > 1) base = matmul(base, base);
  }
  return result!;
}

/**
 * The number of singular values above `tol` (default `s_max · max(m, n) · eps`); a vector's rank
 * is 1 unless it is all zeros.
 * @category Linear algebra
 */
export function matrixRank(a: ArrayLike, opts?: { tol?: number }): Array {
  const { tol } = checkOptions('linalg.matrixRank', { tol: codecs.number }, opts);
  const am = inexact(a);
  if (am.ndim < 2)
    return P.cast(
      P.reduceMax(
        P.ne(am, P.zerosLike(am)),
        am.shape.map((_, i) => i),
      ),
      'int32',
    );
  const s = svdvals(am);
  const [m, n] = am.shape.slice(-2);
  const cutoff = multiply(max(s, { axis: -1, keepdims: true }), Math.max(m, n) * eps(am.dtype));
  const above = tol !== undefined ? P.gt(s, P.fullLike(s, tol)) : P.gt(s, broadcastTo(cutoff, s.shape));
  return sum(P.cast(above, 'int32'), { axis: -1 });
}

/**
 * The product of a chain of matrices in the cheapest order (dynamic programming over the chain,
 * as NumPy); the first and last may be vectors.
 * @example np.linalg.multiDot([a, b, c])
 * @category Linear algebra
 */
export function multiDot(arrays: readonly ArrayLike[]): Array {
  if (arrays.length < 2) throw new ValueError(`linalg.multiDot: needs at least two arrays, got ${arrays.length}`);
  const xs = arrays.map((x) => asArray(x));
  const first = xs[0].ndim === 1,
    last = xs[xs.length - 1].ndim === 1;
  const ms = xs.map((x, i) => {
    const m = i === 0 && first ? expandDims(x, 0) : i === xs.length - 1 && last ? expandDims(x, 1) : x;
    if (m.ndim !== 2) throw new ShapeError(`linalg.multiDot: array ${i} must be 2-D, got ${fmtShape(x.shape)}`);
    return m;
  });
  const dims = [ms[0].shape[0], ...ms.map((m) => m.shape[1])];
  const n = ms.length;
  const cost = ms.map(() => new Float64Array(n));
  const split = ms.map(() => new Int32Array(n));
  for (let len = 1; len < n; len++)
    for (let i = 0; i + len < n; i++) {
      const j = i + len;
      cost[i][j] = Infinity;
      for (let k = i; k < j; k++) {
        const c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1];
        if (c < cost[i][j]) [cost[i][j], split[i][j]] = [c, k];
      }
    }
  const chain = (i: number, j: number): Array =>
    i === j ? ms[i] : matmul(chain(i, split[i][j]), chain(split[i][j] + 1, j));
  let out = chain(0, n - 1);
  if (last) out = squeeze(out, { axis: 1 });
  if (first) out = squeeze(out, { axis: 0 });
  return out;
}

/** The diagonals of the last two axes (offset `k`), as the array API's `linalg.diagonal`. @category Linear algebra */
export function diagonalOf(x: ArrayLike, opts?: { offset?: number }): Array {
  const { offset = 0 } = checkOptions('linalg.diagonal', { offset: codecs.number }, opts);
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`linalg.diagonal: expects a matrix, got shape ${fmtShape(a.shape)}`);
  const [m, n] = a.shape.slice(-2);
  const len = Math.max(0, Math.min(m + Math.min(offset, 0), n - Math.max(offset, 0)));
  // Element (i, i + offset) for i < len, gathered from the flattened matrices.
  const batch = a.shape.slice(0, -2);
  const flat = P.reshape(a, [...batch, m * n]);
  const at = globalThis.Array.from({ length: len }, (_, i) => (i + Math.max(0, -offset)) * n + i + Math.max(0, offset));
  return take(flat, at, { axis: -1 });
}
export { diagonalOf as diagonal };
/** The sum of the diagonal of the last two axes. @category Linear algebra */
export const trace = (x: ArrayLike, opts?: { offset?: number }): Array => sum(diagonalOf(x, opts), { axis: -1 });
/** Swaps the last two axes. @category Linear algebra */
export function matrixTranspose(x: ArrayLike): Array {
  const a = asArray(x);
  if (a.ndim < 2) throw new ShapeError(`linalg.matrixTranspose: expects a matrix, got shape ${fmtShape(a.shape)}`);
  return P.mT(a);
}
/** Dot products of vectors along `axis` (default last), broadcasting the rest. @category Linear algebra */
export function vecdot(x: ArrayLike, y: ArrayLike, opts?: { axis?: number }): Array {
  const { axis = -1 } = checkOptions('linalg.vecdot', { axis: codecs.number }, opts);
  return sum(multiply(x, y), { axis });
}
/** Cross product of 3-vectors along the last axis. @category Linear algebra */
export function cross(x: ArrayLike, y: ArrayLike): Array {
  const a = asArray(x),
    b = asArray(y);
  if (a.shape[a.ndim - 1] !== 3 || b.shape[b.ndim - 1] !== 3)
    throw new ShapeError(
      `linalg.cross: needs 3-vectors on the last axis, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  const at = (v: Array, i: number) => take(v, i, { axis: -1 });
  const [a0, a1, a2] = [0, 1, 2].map((i) => at(a, i));
  const [b0, b1, b2] = [0, 1, 2].map((i) => at(b, i));
  const minus = (p: Array, q: Array) => add(p, multiply(-1, q));
  return stack(
    [
      minus(multiply(a1, b2), multiply(a2, b1)),
      minus(multiply(a2, b0), multiply(a0, b2)),
      minus(multiply(a0, b1), multiply(a1, b0)),
    ],
    { axis: -1 },
  );
}
export { matmul };
