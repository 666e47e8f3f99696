/**
 * The matrix decompositions (`lax.linalg`): cholesky, triangular_solve, lu, qr, eigh and svd, on
 * the trailing two axes of their operands (leading axes are a batch). Their kernels run on the CPU
 * in float64 and round the result to the operand's dtype; ONNX has no decompositions, so a compiled
 * graph runs them in JavaScript between ONNX Runtime sessions. The algorithms:
 * - cholesky: the column (Cholesky–Banachiewicz) recurrence; not positive definite gives NaN, as in JAX.
 * - lu: Gaussian elimination with partial pivoting (LAPACK getf2: a zero pivot column is left unscaled).
 * - qr: Householder reflections with LAPACK's sign convention (R's diagonal has the opposite sign of
 *   the column it eliminated), so results match LAPACK-based libraries (NumPy, PyTorch, JAX).
 * - eigh: cyclic Jacobi rotations: slower than tridiagonal QR for large matrices but accurate to a
 *   few ulps of the norm and simple enough to check.
 * - svd: one-sided (Hestenes) Jacobi, accurate in small singular values too.
 * Eigenvectors and singular vectors are signed so their largest component is positive, which makes
 * them deterministic functions of the matrix (and finite differences meaningful).
 *
 * Derivatives follow JAX's rules; every tangent is built from dot_general, triangular_solve (linear
 * in its right-hand side) and elementwise products, so reverse mode comes from transposition.
 * @module
 */
import { type Array, ConcreteArray, type ShapedArray } from '../core/array.js';
import { type DType, allocate, isFloat } from '../core/dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { type Primitive, definePrimitive } from '../core/primitive.js';
import { sizeOf } from '../core/shape.js';
import { bind, bind1 } from '../core/trace.js';
import { dotGeneral } from './dot.js';
import { add, cast, div, eq, fullLike, le, mul, select, sub, zerosLike } from './elementwise.js';
import { broadcastInDim, iota, moveBatchAxis, reduceSum, transpose } from './views.js';
import { range } from './util.js';

// ---------------------------------------------------------------- matrix helpers on traced arrays

/** Batched matrix product over equal leading axes. */
export function mm(a: Array, b: Array): Array {
  const k = a.ndim - 2;
  const batch = range(k);
  return dotGeneral(a, b, { contract: [[k + 1], [k]], batch: [batch, batch] });
}
/** Swaps the last two axes. */
export function mT(a: Array): Array {
  const perm = range(a.ndim);
  [perm[a.ndim - 2], perm[a.ndim - 1]] = [perm[a.ndim - 1], perm[a.ndim - 2]];
  return transpose(a, perm);
}
/** `(a + aᵀ) / 2`. */
const symmetrize = (a: Array) => mul(add(a, mT(a)), fullLike(a, 0.5));
/** Entries at or below diagonal `k` (`lower`) or at or above it. */
function triangle(x: Array, k: number, lower: boolean): Array {
  const row = iota(x.shape, 'int32', x.ndim - 2),
    col = iota(x.shape, 'int32', x.ndim - 1);
  const keep = lower ? le(col, add(row, fullLike(row, k))) : le(add(row, fullLike(row, k)), col);
  return select(keep, x, zerosLike(x));
}
/** The identity, broadcast to `shape` (`[..., n, n]`). */
export function eyeOf(shape: readonly number[], dtype: DType): Array {
  const nd = shape.length;
  return cast(eq(iota(shape, 'int32', nd - 2), iota(shape, 'int32', nd - 1)), dtype);
}
/** The diagonals of `[..., n, n]` as `[..., n]`. */
const diagonalOf = (x: Array) => reduceSum(mul(x, eyeOf(x.shape, x.dtype)), [x.ndim - 1]);
/** Row vector `v` (`[..., n]`) broadcast over rows (`rows` of them). */
const asRows = (v: Array, rows: number) =>
  broadcastInDim(v, [...v.shape.slice(0, -1), rows, v.shape[v.ndim - 1]], [...range(v.ndim - 1), v.ndim]);
/** Column vector `v` (`[..., n]`) broadcast over columns. */
const asCols = (v: Array, cols: number) => broadcastInDim(v, [...v.shape, cols], range(v.ndim));

// ---------------------------------------------------------------- shape checks and kernels' plumbing

function checkMatrix(op: string, x: ShapedArray, square: boolean): [number, number] {
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: expects a floating-point matrix, got ${x.dtype}`);
  if (x.shape.length < 2) throw new ShapeError(`${op}: expects a matrix ([..., m, n]), got shape ${fmtShape(x.shape)}`);
  const [m, n] = x.shape.slice(-2);
  if (square && m !== n) throw new ShapeError(`${op}: expects square matrices, got shape ${fmtShape(x.shape)}`);
  return [m, n];
}

/**
 * Runs `kernel` on each matrix of `x` (as a float64 row-major copy) and gathers its outputs into
 * arrays of the given per-matrix shapes.
 */
function perMatrix(
  x: ConcreteArray,
  outs: { shape: readonly number[]; dtype: DType }[],
  kernel: (a: Float64Array, m: number, n: number) => ArrayLike<number>[],
): ConcreteArray[] {
  const [m, n] = x.shape.slice(-2);
  const batch = x.shape.slice(0, -2);
  const count = sizeOf(batch);
  const sizes = outs.map((o) => sizeOf(o.shape));
  const data = outs.map((o, i) => allocate(o.dtype, count * sizes[i]));
  const src = x.buffer;
  for (let b = 0; b < count; b++) {
    const results = kernel(Float64Array.from(src.subarray(b * m * n, (b + 1) * m * n)), m, n);
    results.forEach((r, i) => data[i].set(r, b * sizes[i]));
  }
  return outs.map((o, i) => new ConcreteArray(data[i], [...batch, ...o.shape], o.dtype));
}

/** A batch rule for primitives of one operand: the batch axis moves to the front. */
const unaryBatch =
  <P extends object>(prim: () => Primitive<P>) =>
  ([x]: Array[], [d]: (number | null)[], params: P, size: number): [Array[], number[]] => {
    const outs = bind(prim(), [moveBatchAxis(x, d, 0, size)], params);
    return [outs, outs.map(() => 0)];
  };

// ---------------------------------------------------------------- cholesky

function choleskyKernel(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0)) return l.fill(NaN); // not positive definite (or NaN input)
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = (a[i * n + j] + a[j * n + i]) / 2;
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** The lower Cholesky factor of the symmetric part of each matrix (JAX's `symmetrize_input`). */
export const choleskyP: Primitive<object> = definePrimitive({
  name: 'cholesky',
  props: { kernel: true, operandsInBuffers: true },
  abstractEval([x]) {
    checkMatrix('cholesky', x, true);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  impl([x]) {
    return perMatrix(x, [{ shape: x.shape.slice(-2), dtype: x.dtype }], (a, n) => {
      for (let i = 0; i < n; i++)
        for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = (a[i * n + j] + a[j * n + i]) / 2;
      return [choleskyKernel(a, n)];
    });
  },
  jvp([x], [t]) {
    // dL = L Φ(L⁻¹ sym(dA) L⁻ᵀ), Φ taking the lower triangle with the diagonal halved.
    const l = bind1(choleskyP, [x]);
    const sigma = symmetrize(t);
    const right = triangularSolve(l, sigma, { leftSide: false, lower: true, transposeA: true });
    const inner = triangularSolve(l, right, { leftSide: true, lower: true });
    const phi = sub(triangle(inner, 0, true), mul(inner, mul(eyeOf(x.shape, x.dtype), fullLike(x, 0.5))));
    return [[l], [mm(l, phi)]];
  },
  batch: unaryBatch(() => choleskyP),
});

// ---------------------------------------------------------------- triangular_solve

/** Options of `lax.linalg.triangularSolve`, as `jax.lax.linalg.triangular_solve`. */
export interface TriangularSolveOptions {
  /** Solve `op(a) x = b` (true) or `x op(a) = b` (false, the default as in JAX). */
  leftSide?: boolean;
  /** Read `a`'s lower triangle (true) or its upper one (false, the default). */
  lower?: boolean;
  /** `op(a) = aᵀ` (default: `a`). */
  transposeA?: boolean;
  /** Take `a`'s diagonal as ones. */
  unitDiagonal?: boolean;
}
type TriParams = Required<TriangularSolveOptions>;

/** Solves `t x = b` in place for a dense triangular `t` (m×m) and `b` (m×n). */
function substitute(t: Float64Array, lowerT: boolean, b: Float64Array, m: number, n: number): void {
  for (let c = 0; c < n; c++) {
    if (lowerT)
      for (let i = 0; i < m; i++) {
        let s = b[i * n + c];
        for (let k = 0; k < i; k++) s -= t[i * m + k] * b[k * n + c];
        b[i * n + c] = s / t[i * m + i];
      }
    else
      for (let i = m - 1; i >= 0; i--) {
        let s = b[i * n + c];
        for (let k = i + 1; k < m; k++) s -= t[i * m + k] * b[k * n + c];
        b[i * n + c] = s / t[i * m + i];
      }
  }
}

function triangularSolveKernel(a: Float64Array, b: Float64Array, m: number, p: TriParams, rows: number, cols: number) {
  // The effective left-side system: op(a) for left solves, op(a)ᵀ on bᵀ for right solves.
  const transposed = p.transposeA !== !p.leftSide;
  const t = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) {
      const inTriangle = p.lower ? j <= i : j >= i;
      const v = i === j && p.unitDiagonal ? 1 : inTriangle ? a[i * m + j] : 0;
      if (transposed) t[j * m + i] = v;
      else t[i * m + j] = v;
    }
  const lowerT = p.lower !== transposed;
  if (p.leftSide) {
    substitute(t, lowerT, b, m, cols);
    return b;
  }
  const bt = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) bt[j * rows + i] = b[i * cols + j];
  substitute(t, lowerT, bt, m, rows);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) b[i * cols + j] = bt[j * rows + i];
  return b;
}

export const triangularSolveP: Primitive<TriParams> = definePrimitive({
  name: 'triangular_solve',
  props: { kernel: true, operandsInBuffers: true },
  abstractEval([a, b], p) {
    const [m] = checkMatrix('triangular_solve', a, true);
    checkMatrix('triangular_solve', b, false);
    const [rows, cols] = b.shape.slice(-2);
    const batchOk = a.shape.length === b.shape.length && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
    if (!batchOk || (p.leftSide ? rows : cols) !== m)
      throw new ShapeError(
        `triangular_solve: a ${fmtShape(a.shape)} cannot solve ${p.leftSide ? 'a x = b' : 'x a = b'} for b ` +
          `${fmtShape(b.shape)}`,
      );
    if (a.dtype !== b.dtype) throw new DTypeError(`triangular_solve: a is ${a.dtype}, b ${b.dtype}`);
    return [{ shape: b.shape, dtype: b.dtype }];
  },
  impl([a, b], p) {
    const m = a.shape[a.ndim - 1];
    const [rows, cols] = b.shape.slice(-2);
    const count = sizeOf(a.shape.slice(0, -2));
    const out = allocate(b.dtype, b.size);
    for (let k = 0; k < count; k++) {
      const am = Float64Array.from(a.buffer.subarray(k * m * m, (k + 1) * m * m));
      const bm = Float64Array.from(b.buffer.subarray(k * rows * cols, (k + 1) * rows * cols));
      out.set(triangularSolveKernel(am, bm, m, p, rows, cols), k * rows * cols);
    }
    return [new ConcreteArray(out, b.shape, b.dtype)];
  },
  jvp([a, b], [ta, tb], p) {
    // x = op(a)⁻¹ b: dx = op(a)⁻¹ (db − op(da) x) (left), and (db − x op(da)) op(a)⁻¹ (right).
    const x = bind1(triangularSolveP, [a, b], p);
    let da = triangle(ta, 0, p.lower);
    if (p.unitDiagonal) da = sub(da, mul(da, eyeOf(da.shape, da.dtype)));
    const opDa = p.transposeA ? mT(da) : da;
    const rhs = sub(tb, p.leftSide ? mm(opDa, x) : mm(x, opDa));
    return [[x], [bind1(triangularSolveP, [a, rhs], p)]];
  },
  // Linear in b only (a is known whenever it is transposed): the adjoint solves with op(a)ᵀ.
  transpose: ([ct], [a], p) => [null, bind1(triangularSolveP, [a as Array, ct], { ...p, transposeA: !p.transposeA })],
  batch([a, b], [da, db], p, size) {
    const at = moveBatchAxis(a, da, 0, size),
      bt = moveBatchAxis(b, db, 0, size);
    return [[bind1(triangularSolveP, [at, bt], p)], [0]];
  },
});

/**
 * Solves a triangular system `op(a) x = b` (`leftSide`) or `x op(a) = b`, reading one triangle of
 * `a`: `jax.lax.linalg.triangular_solve`. Leading axes are a batch (equal in `a` and `b`).
 * @example lax.linalg.triangularSolve(l, b, { leftSide: true, lower: true }) // l⁻¹ b
 * @category lax
 */
export function triangularSolve(a: Array, b: Array, opts: TriangularSolveOptions = {}): Array {
  const p: TriParams = {
    leftSide: opts.leftSide ?? false,
    lower: opts.lower ?? false,
    transposeA: opts.transposeA ?? false,
    unitDiagonal: opts.unitDiagonal ?? false,
  };
  return bind1(triangularSolveP, [a, b], p);
}

// ---------------------------------------------------------------- lu

function luKernel(a: Float64Array, n: number): [Float64Array, Int32Array, Int32Array] {
  const pivots = new Int32Array(n);
  const perm = Int32Array.from(range(n));
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(a[i * n + k]) > Math.abs(a[p * n + k])) p = i;
    if (Number.isNaN(a[p * n + k])) p = k;
    pivots[k] = p;
    if (p !== k) {
      for (let j = 0; j < n; j++) [a[k * n + j], a[p * n + j]] = [a[p * n + j], a[k * n + j]];
      [perm[k], perm[p]] = [perm[p], perm[k]];
    }
    const pivot = a[k * n + k];
    if (pivot === 0) continue; // a singular column stays unscaled (LAPACK's getf2)
    for (let i = k + 1; i < n; i++) {
      const f = (a[i * n + k] /= pivot);
      for (let j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
    }
  }
  return [a, pivots, perm];
}

/**
 * LU decomposition with partial pivoting of square matrices: `[lu, pivots, permutation]` with
 * `a[permutation] = L U` (L unit lower, U upper, packed in `lu`); `pivots[k]` is the row swapped
 * with row k, as LAPACK's getrf (0-based).
 */
export const luP: Primitive<object> = definePrimitive({
  name: 'lu',
  props: { kernel: true, operandsInBuffers: true },
  abstractEval([x]) {
    const [n] = checkMatrix('lu', x, true);
    const batch = x.shape.slice(0, -2);
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: [...batch, n], dtype: 'int32' },
      { shape: [...batch, n], dtype: 'int32' },
    ];
  },
  impl([x]) {
    const n = x.shape[x.ndim - 1];
    return perMatrix(
      x,
      [
        { shape: [n, n], dtype: x.dtype },
        { shape: [n], dtype: 'int32' },
        { shape: [n], dtype: 'int32' },
      ],
      (a) => luKernel(a, n),
    );
  },
  jvp([x], [t]) {
    const [lu, pivots, perm] = bind(luP, [x]);
    const n = x.shape[x.ndim - 1];
    const eye = eyeOf(x.shape, x.dtype);
    // P as a matrix: row i selects row perm[i].
    const pMat = cast(eq(asCols(perm, n), iota(x.shape, 'int32', x.ndim - 1)), x.dtype);
    const l = add(triangle(lu, -1, true), eye),
      u = triangle(lu, 0, false);
    const la = triangularSolve(l, mm(pMat, t), { leftSide: true, lower: true, unitDiagonal: true });
    const lau = triangularSolve(u, la, { leftSide: false, lower: false });
    const dlu = add(mm(l, triangle(lau, -1, true)), mm(triangle(lau, 0, false), u));
    return [
      [lu, pivots, perm],
      [dlu, zerosLike(pivots), zerosLike(perm)],
    ];
  },
  batch: unaryBatch(() => luP),
});

// ---------------------------------------------------------------- qr

function qrKernel(a: Float64Array, m: number, n: number, full: boolean): [Float64Array, Float64Array] {
  const k = Math.min(m, n);
  const r = a;
  const vs: Float64Array[] = [],
    taus: number[] = [];
  for (let j = 0; j < k; j++) {
    const alpha = r[j * n + j];
    let xnorm = 0;
    for (let i = j + 1; i < m; i++) xnorm = Math.hypot(xnorm, r[i * n + j]);
    const v = new Float64Array(m);
    if (xnorm === 0) {
      vs.push(v);
      taus.push(0);
      continue;
    }
    const beta = -(alpha >= 0 ? 1 : -1) * Math.hypot(alpha, xnorm);
    const tau = (beta - alpha) / beta;
    v[j] = 1;
    for (let i = j + 1; i < m; i++) v[i] = r[i * n + j] / (alpha - beta);
    r[j * n + j] = beta;
    for (let i = j + 1; i < m; i++) r[i * n + j] = 0;
    for (let c = j + 1; c < n; c++) {
      let w = 0;
      for (let i = j; i < m; i++) w += v[i] * r[i * n + c];
      for (let i = j; i < m; i++) r[i * n + c] -= tau * v[i] * w;
    }
    vs.push(v);
    taus.push(tau);
  }
  const q = full ? m : k;
  const qm = new Float64Array(m * q);
  for (let i = 0; i < q; i++) qm[i * q + i] = 1;
  for (let j = k - 1; j >= 0; j--) {
    const v = vs[j],
      tau = taus[j];
    if (tau === 0) continue;
    for (let c = 0; c < q; c++) {
      let w = 0;
      for (let i = j; i < m; i++) w += v[i] * qm[i * q + c];
      for (let i = j; i < m; i++) qm[i * q + c] -= tau * v[i] * w;
    }
  }
  return [qm, full ? r : r.subarray(0, k * n)];
}

/** QR decomposition by Householder reflections: `[q, r]`, reduced or complete (`fullMatrices`). */
export const qrP: Primitive<{ fullMatrices: boolean }> = definePrimitive({
  name: 'qr',
  props: { kernel: true, operandsInBuffers: true },
  abstractEval([x], { fullMatrices }) {
    const [m, n] = checkMatrix('qr', x, false);
    const k = fullMatrices ? m : Math.min(m, n);
    const batch = x.shape.slice(0, -2);
    return [
      { shape: [...batch, m, k], dtype: x.dtype },
      { shape: [...batch, k, n], dtype: x.dtype },
    ];
  },
  impl([x], { fullMatrices }) {
    const [m, n] = x.shape.slice(-2);
    const k = fullMatrices ? m : Math.min(m, n);
    return perMatrix(
      x,
      [
        { shape: [m, k], dtype: x.dtype },
        { shape: [k, n], dtype: x.dtype },
      ],
      (a) => qrKernel(a, m, n, fullMatrices),
    );
  },
  jvp([x], [t], params) {
    const [m, n] = x.shape.slice(-2);
    if (m < n || (params.fullMatrices && m !== n))
      throw new ValueError(
        `qr: derivatives need a tall or square matrix (and reduced factors unless square), got ` +
          `${fmtShape(x.shape)}${params.fullMatrices ? ' with fullMatrices' : ''}`,
      );
    const [q, r] = bind(qrP, [x], params);
    const dxRinv = triangularSolve(r, t, { leftSide: false, lower: false });
    const qtDxRinv = mm(mT(q), dxRinv);
    const lowerPart = triangle(qtDxRinv, -1, true);
    const omega = sub(lowerPart, mT(lowerPart));
    const dq = add(mm(q, sub(omega, qtDxRinv)), dxRinv);
    const dr = mm(sub(qtDxRinv, omega), r);
    return [
      [q, r],
      [dq, dr],
    ];
  },
  batch: unaryBatch(() => qrP),
});

// ---------------------------------------------------------------- eigh

/**
 * Signs each column of `v` (rows×cols) so its largest-magnitude entry is positive, flipping the
 * same columns of `also` (alsoRows×alsoCols) with it.
 */
function signColumns(
  v: Float64Array,
  rows: number,
  cols: number,
  also?: Float64Array,
  alsoRows = 0,
  alsoCols = 0,
): void {
  for (let j = 0; j < cols; j++) {
    let best = 0;
    for (let i = 1; i < rows; i++) if (Math.abs(v[i * cols + j]) > Math.abs(v[best * cols + j]) + 1e-12) best = i;
    if (v[best * cols + j] >= 0) continue;
    for (let i = 0; i < rows; i++) v[i * cols + j] = -v[i * cols + j];
    if (also) for (let i = 0; i < alsoRows; i++) also[i * alsoCols + j] = -also[i * alsoCols + j];
  }
}

function eighKernel(a: Float64Array, n: number): [Float64Array, Float64Array] {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = (a[i * n + j] + a[j * n + i]) / 2;
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (const e of a) total += e * e;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (!(off > 1e-34 * total)) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let r = 0; r < n; r++) {
          const arp = a[r * n + p],
            arq = a[r * n + q];
          a[r * n + p] = c * arp - s * arq;
          a[r * n + q] = s * arp + c * arq;
        }
        for (let r = 0; r < n; r++) {
          const apr = a[p * n + r],
            aqr = a[q * n + r];
          a[p * n + r] = c * apr - s * aqr;
          a[q * n + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < n; r++) {
          const vrp = v[r * n + p],
            vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
  }
  const order = range(n).sort((i, j) => a[i * n + i] - a[j * n + j] || i - j);
  const w = Float64Array.from(order, (i) => a[i * n + i]);
  const vs = new Float64Array(n * n);
  for (let r = 0; r < n; r++) order.forEach((src, j) => (vs[r * n + j] = v[r * n + src]));
  signColumns(vs, n, n);
  return [vs, w];
}

/** Eigenvectors (columns) and ascending eigenvalues of the symmetric part of each matrix: `[v, w]`. */
export const eighP: Primitive<object> = definePrimitive({
  name: 'eigh',
  props: { kernel: true, operandsInBuffers: true },
  abstractEval([x]) {
    const [n] = checkMatrix('eigh', x, true);
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: [...x.shape.slice(0, -2), n], dtype: x.dtype },
    ];
  },
  impl([x]) {
    const n = x.shape[x.ndim - 1];
    return perMatrix(
      x,
      [
        { shape: [n, n], dtype: x.dtype },
        { shape: [n], dtype: x.dtype },
      ],
      (a) => eighKernel(a, n),
    );
  },
  jvp([x], [t]) {
    // dw = diag(Vᵀ dA V); dV = V (F ∘ Vᵀ dA V) with F_ij = 1 / (w_j − w_i) off the diagonal.
    const [v, w] = bind(eighP, [x]);
    const n = x.shape[x.ndim - 1];
    const eye = eyeOf(x.shape, x.dtype);
    const f = sub(div(fullLike(eye, 1), add(eye, sub(asRows(w, n), asCols(w, n)))), eye);
    const vtdv = mm(mT(v), mm(symmetrize(t), v));
    return [
      [v, w],
      [mm(v, mul(f, vtdv)), diagonalOf(vtdv)],
    ];
  },
  batch: unaryBatch(() => eighP),
});

// ---------------------------------------------------------------- svd

/**
 * Columns `from..` of `u` (rows×cols) replaced by unit vectors orthogonal to the columns before them:
 * each time the unit vector e_i whose component outside their span is largest (at least 1/rows in
 * squared norm, since those components' squared norms sum to the dimension left).
 */
function completeBasis(u: Float64Array, rows: number, cols: number, from: number): void {
  for (let j = from; j < cols; j++) {
    let best: Float64Array | null = null,
      bestNorm = -1;
    for (let candidate = 0; candidate < rows; candidate++) {
      const e = new Float64Array(rows);
      e[candidate] = 1;
      for (let pass = 0; pass < 2; pass++)
        for (let k = 0; k < j; k++) {
          let d = 0;
          for (let i = 0; i < rows; i++) d += u[i * cols + k] * e[i];
          for (let i = 0; i < rows; i++) e[i] -= d * u[i * cols + k];
        }
      const norm = Math.hypot(...e);
      if (norm > bestNorm) [best, bestNorm] = [e, norm];
    }
    for (let i = 0; i < rows; i++) u[i * cols + j] = best![i] / bestNorm;
  }
}

/**
 * SVD of a tall matrix (m ≥ n) by one-sided Jacobi: u m×m (or m×n), s, v n×n (columns); v only
 * when `withV`. Columns live in contiguous arrays and their squared norms are updated by each
 * rotation (recomputed every sweep), so a rotation costs one dot product and two column updates.
 */
function svdTall(
  a: Float64Array,
  m: number,
  n: number,
  full: boolean,
  withV = true,
): [Float64Array, Float64Array, Float64Array] {
  const cols = range(n).map((j) => Float64Array.from({ length: m }, (_, i) => a[i * n + j]));
  const vcols = withV ? range(n).map((j) => Float64Array.from({ length: n }, (_, i) => (i === j ? 1 : 0))) : [];
  const dot = (x: Float64Array, y: Float64Array) => {
    let d = 0;
    for (let i = 0; i < x.length; i++) d += x[i] * y[i];
    return d;
  };
  const rotate = (x: Float64Array, y: Float64Array, c: number, s: number) => {
    for (let i = 0; i < x.length; i++) {
      const xi = x[i],
        yi = y[i];
      x[i] = c * xi - s * yi;
      y[i] = s * xi + c * yi;
    }
  };
  const norms = new Float64Array(n);
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let j = 0; j < n; j++) norms[j] = dot(cols[j], cols[j]);
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const alpha = norms[p],
          beta = norms[q];
        const gamma = dot(cols[p], cols[q]);
        if (!(Math.abs(gamma) > 1e-15 * Math.sqrt(alpha * beta))) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        rotate(cols[p], cols[q], c, c * t);
        if (withV) rotate(vcols[p], vcols[q], c, c * t);
        norms[p] = alpha - t * gamma;
        norms[q] = beta + t * gamma;
      }
    if (!rotated) break;
  }
  const lengths = cols.map((col) => Math.sqrt(dot(col, col)));
  const order = range(n).sort((i, j) => lengths[j] - lengths[i] || i - j);
  const s = Float64Array.from(order, (j) => lengths[j]);
  if (!withV) return [new Float64Array(0), s, new Float64Array(0)];
  const uc = full ? m : n;
  const u = new Float64Array(m * uc),
    vs = new Float64Array(n * n);
  let rank = 0;
  order.forEach((src, j) => {
    for (let i = 0; i < n; i++) vs[i * n + j] = vcols[src][i];
    if (s[j] > 0) rank = j + 1;
    for (let i = 0; i < m; i++) u[i * uc + j] = s[j] > 0 ? cols[src][i] / s[j] : 0;
  });
  completeBasis(u, m, uc, rank);
  signColumns(vs, n, n, u, m, uc);
  return [u, s, vs];
}

function svdKernel(a: Float64Array, m: number, n: number, full: boolean, uv: boolean): Float64Array[] {
  let u: Float64Array, s: Float64Array, v: Float64Array;
  if (m >= n) [u, s, v] = svdTall(a, m, n, full, uv);
  else {
    const at = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) at[j * m + i] = a[i * n + j];
    [v, s, u] = svdTall(at, n, m, full, uv); // aᵀ = V S Uᵀ
  }
  if (!uv) return [s];
  const vc = v.length / n; // columns of v
  const vt = new Float64Array(vc * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < vc; j++) vt[j * n + i] = v[i * vc + j];
  return [s, u, vt];
}

/** Singular values (descending) and, with `computeUv`, the vectors: `[s, u, vt]` with `a = u diag(s) vt`. */
export const svdP: Primitive<{ fullMatrices: boolean; computeUv: boolean }> = definePrimitive({
  name: 'svd',
  props: { kernel: true, operandsInBuffers: true },
  abstractEval([x], { fullMatrices, computeUv }) {
    const [m, n] = checkMatrix('svd', x, false);
    const k = Math.min(m, n);
    const batch = x.shape.slice(0, -2);
    const s = { shape: [...batch, k], dtype: x.dtype };
    if (!computeUv) return [s];
    return [
      s,
      { shape: [...batch, m, fullMatrices ? m : k], dtype: x.dtype },
      { shape: [...batch, fullMatrices ? n : k, n], dtype: x.dtype },
    ];
  },
  impl([x], { fullMatrices, computeUv }) {
    const [m, n] = x.shape.slice(-2);
    const k = Math.min(m, n);
    const outs = [{ shape: [k], dtype: x.dtype }];
    if (computeUv)
      outs.push(
        { shape: [m, fullMatrices ? m : k], dtype: x.dtype },
        { shape: [fullMatrices ? n : k, n], dtype: x.dtype },
      );
    return perMatrix(x, outs, (a) => svdKernel(a, m, n, fullMatrices, computeUv));
  },
  jvp([x], [t], params) {
    const [m, n] = x.shape.slice(-2);
    if (params.computeUv && params.fullMatrices && m !== n)
      throw new ValueError(`svd: derivatives of full (non-square) factors are not defined, got ${fmtShape(x.shape)}`);
    const [s, u, vt] = bind(svdP, [x], { fullMatrices: false, computeUv: true });
    const k = Math.min(m, n);
    const v = mT(vt);
    const dS = mm(mT(u), mm(t, v));
    const ds = diagonalOf(dS);
    if (!params.computeUv) return [[s], [ds]];
    const eye = eyeOf(dS.shape, x.dtype);
    const sRow = asRows(s, k),
      sCol = asCols(s, k);
    const f = sub(div(fullLike(eye, 1), add(mul(add(sRow, sCol), sub(sRow, sCol)), eye)), eye);
    const dSS = mul(sRow, dS),
      sdS = mul(sCol, dS);
    let du = mm(u, mul(f, add(dSS, mT(dSS))));
    let dv = mm(v, mul(f, add(sdS, mT(sdS))));
    // Components outside the span of the reduced factors (tall or wide matrices).
    const zero = eq(s, zerosLike(s));
    const sInv = sub(div(fullLike(s, 1), add(s, cast(zero, s.dtype))), cast(zero, s.dtype));
    if (m > n) {
      const dav = mm(t, v);
      du = add(du, mul(sub(dav, mm(u, mm(mT(u), dav))), asRows(sInv, m)));
    }
    if (n > m) {
      const dahu = mm(mT(t), u);
      dv = add(dv, mul(sub(dahu, mm(v, mm(vt, dahu))), asRows(sInv, n)));
    }
    return [
      [s, u, vt],
      [ds, du, mT(dv)],
    ];
  },
  batch: unaryBatch(() => svdP),
});

// ---------------------------------------------------------------- strict functions (lax.linalg)

/** The lower Cholesky factor of the symmetric part of `a` (NaN where not positive definite). @category lax */
export const cholesky = (a: Array): Array => bind1(choleskyP, [a]);
/** `[lu, pivots, permutation]` of square matrices. @category lax */
export const lu = (a: Array): [Array, Array, Array] => bind(luP, [a]) as [Array, Array, Array];
/** `[q, r]` by Householder reflections. @category lax */
export const qr = (a: Array, fullMatrices = false): [Array, Array] =>
  bind(qrP, [a], { fullMatrices }) as [Array, Array];
/** `[v, w]`: eigenvectors (columns) and ascending eigenvalues of the symmetric part of `a`. @category lax */
export const eigh = (a: Array): [Array, Array] => bind(eighP, [a]) as [Array, Array];
/** `[s, u, vt]` (or `[s]` without `computeUv`). @category lax */
export const svd = (a: Array, opts: { fullMatrices?: boolean; computeUv?: boolean } = {}): Array[] =>
  bind(svdP, [a], { fullMatrices: opts.fullMatrices ?? false, computeUv: opts.computeUv ?? true });
