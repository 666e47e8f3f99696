/**
 * dot_general: contraction with batch dimensions (matmul, einsum and tensordot are composites).
 * Output axes are `[...batch, ...lhs free, ...rhs free]`, as in XLA.
 * @module
 */
import { type Array, ConcreteArray, type ShapedArray } from '../core/array.js';
import { allocate, isFloat } from '../core/dtype.js';
import { ShapeError } from '../core/errors.js';
import { type OnnxEmitter, type Primitive, UndefinedPrimal, definePrimitive } from '../core/primitive.js';
import { shapesEqual, sizeOf, stridesOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { expectSameDType, fmt, range, stridedOffsets } from './util.js';
import { transpose, transposeP } from './views.js';
import { gemmBatched } from '../../kernels/cpu/gemm.js';
import { add } from './elementwise.js';
import { convolutionOnnx } from './windows.js';

export interface DotParams {
  /** [lhs axes, rhs axes] contracted pairwise. */
  contract: readonly [readonly number[], readonly number[]];
  /** [lhs axes, rhs axes] that are batch dimensions (they lead the output). */
  batch: readonly [readonly number[], readonly number[]];
}

const freeAxes = (nd: number, ...used: (readonly number[])[]) =>
  range(nd).filter((i) => !used.some((u) => u.includes(i)));

export const dotGeneralP: Primitive<DotParams> = definePrimitive({
  name: 'dot_general',
  props: { linear: true, kernel: true },
  abstractEval([a, b], { contract: [ca, cb], batch: [ba, bb] }) {
    const dtype = expectSameDType('dot_general', [a, b]);
    const bad =
      ca.length !== cb.length ||
      ba.length !== bb.length ||
      ca.some((x, i) => a.shape[x] === undefined || a.shape[x] !== b.shape[cb[i]]) ||
      ba.some((x, i) => a.shape[x] === undefined || a.shape[x] !== b.shape[bb[i]]) ||
      new Set([...ca, ...ba]).size !== ca.length + ba.length ||
      new Set([...cb, ...bb]).size !== cb.length + bb.length;
    if (bad) {
      throw new ShapeError(
        `dot_general: cannot contract ${fmt(a.shape)} axes [${ca}] with ${fmt(b.shape)} axes [${cb}] (batch [${ba}] ` +
          `/ [${bb}])`,
      );
    }
    if (dtype === 'bool') throw new ShapeError('dot_general: bool operands are not supported; cast first');
    const fa = freeAxes(a.shape.length, ca, ba),
      fb = freeAxes(b.shape.length, cb, bb);
    return [
      { shape: [...ba.map((i) => a.shape[i]), ...fa.map((i) => a.shape[i]), ...fb.map((i) => b.shape[i])], dtype },
    ];
  },
  impl([a, b], { contract: [ca, cb], batch: [ba, bb] }) {
    const fa = freeAxes(a.shape.length, ca, ba),
      fb = freeAxes(b.shape.length, cb, bb);
    const size = (x: ConcreteArray, axes: readonly number[]) => axes.reduce((p, i) => p * x.shape[i], 1);
    const nb = size(a, ba),
      m = size(a, fa),
      k = size(a, ca),
      n = size(b, fb);
    const shape = [...ba.map((i) => a.shape[i]), ...fa.map((i) => a.shape[i]), ...fb.map((i) => b.shape[i])];
    // float32: the WebAssembly SIMD kernel on contiguous copies, its rows along the shorter free dimension.
    if (a.dtype === 'float32') {
      const wide = n >= m;
      const X = wide ? contiguous(a, [...ba, ...fa, ...ca]) : contiguous(b, [...bb, ...fb, ...cb]);
      const Y = wide ? contiguous(b, [...bb, ...cb, ...fb]) : contiguous(a, [...ba, ...ca, ...fa]);
      const c = gemmBatched(X.buffer, Y.buffer, nb, wide ? m : n, k, wide ? n : m);
      if (c) {
        const out = new ConcreteArray(c, wide ? shape : [nb, n, m], 'float32');
        return [
          wide ? out : new ConcreteArray(transposeP.impl([out], { perm: [0, 2, 1] })[0].buffer, shape, 'float32'),
        ];
      }
    }
    // Without WebAssembly: long contractions into a small output (weight gradients) accumulate outer products
    // over contiguous [batch, contract, free] copies of both operands.
    if (k >= 8 * Math.max(m, n) && m * n <= 4096 && isFloat(a.dtype)) {
      const A = contiguous(a, [...ba, ...ca, ...fa]).buffer,
        B = contiguous(b, [...bb, ...cb, ...fb]).buffer;
      const out = allocate(a.dtype, nb * m * n);
      const acc = new Float64Array(m * n);
      for (let bi = 0; bi < nb; bi++) {
        acc.fill(0);
        for (let kk = 0; kk < k; kk++) {
          const aRow = (bi * k + kk) * m,
            bRow = (bi * k + kk) * n;
          for (let i = 0; i < m; i++) {
            const v = A[aRow + i];
            if (v === 0) continue;
            const o = i * n;
            for (let j = 0; j < n; j++) acc[o + j] += v * B[bRow + j];
          }
        }
        out.set(acc, bi * m * n);
      }
      return [new ConcreteArray(out, shape, a.dtype)];
    }
    // Otherwise the inner loop runs along the longer free dimension, over a contiguous copy of
    // that operand laid out [batch, contract, free]; the other operand is read in place.
    if (n >= m) {
      const B = contiguous(b, [...bb, ...cb, ...fb]).buffer;
      const out = matmulRows(a, [ba, fa, ca], B, nb, m, k, n);
      return [new ConcreteArray(out, shape, a.dtype)];
    }
    const A = contiguous(a, [...ba, ...ca, ...fa]).buffer;
    const outT = matmulRows(b, [bb, fb, cb], A, nb, n, k, m); // [batch, n, m]
    const t = new ConcreteArray(outT, [nb, n, m], a.dtype);
    return [new ConcreteArray(transposeP.impl([t], { perm: [0, 2, 1] })[0].buffer, shape, a.dtype)];
  },
  jvp([a, b], [ta, tb], p) {
    return [[dotGeneral(a, b, p)], [add(dotGeneral(ta, b, p), dotGeneral(a, tb, p))]];
  },
  batch([a, b], [da, db], { contract: [ca, cb], batch: [ba, bb] }) {
    const shift = (axes: readonly number[], d: number) => axes.map((x) => (x >= d ? x + 1 : x));
    if (da !== null && db !== null) {
      // Both batched: the vmapped axis becomes a new leading batch dimension.
      const p: DotParams = {
        contract: [shift(ca, da), shift(cb, db)],
        batch: [
          [da, ...shift(ba, da)],
          [db, ...shift(bb, db)],
        ],
      };
      return [[dotGeneral(a, b, p)], [0]];
    }
    if (da !== null) {
      const p: DotParams = { contract: [shift(ca, da), cb], batch: [shift(ba, da), bb] };
      const fa = freeAxes(a.shape.length, p.contract[0], p.batch[0]);
      return [[dotGeneral(a, b, p)], [ba.length + fa.indexOf(da)]];
    }
    const d = db as number;
    const p: DotParams = { contract: [ca, shift(cb, d)], batch: [ba, shift(bb, d)] };
    const fa = freeAxes(a.shape.length, ca, ba);
    const fb = freeAxes(b.shape.length, p.contract[1], p.batch[1]);
    return [[dotGeneral(a, b, p)], [ba.length + fa.length + fb.indexOf(d)]];
  },
  transpose([ct], [a, b], p) {
    const aU = a instanceof UndefinedPrimal,
      bU = b instanceof UndefinedPrimal;
    return [
      aU ? transposeLhs(ct, b as Array, a.aval.shape.length, p) : null,
      bU ? transposeRhs(ct, a as Array, b.aval.shape.length, p) : null,
    ];
  },
  onnx: (e, [a, b], p, { ins: [av, bv], outs: [out] }) => [
    // A sum over nothing is 0 (ONNX Runtime's integer MatMul faults on an empty contraction).
    p.contract[0].some((ax) => av.shape[ax] === 0)
      ? e.constant(allocate(out.dtype, sizeOf(out.shape)), out.dtype, out.shape)
      : (convolutionOnnx(e, [a, b], p, [av, bv], out) ?? contractionOnnx(e, a, b, p, av, bv, out.shape)),
  ],
});

/**
 * Generic ONNX contraction: each operand permuted to [batch, free, contract] / [batch, contract, free]
 * and flattened to three axes for MatMul (2-d float products become one Gemm, transposes folded in).
 */
function contractionOnnx(
  e: OnnxEmitter,
  a: string,
  b: string,
  { contract: [ca, cb], batch: [ba, bb] }: DotParams,
  av: ShapedArray,
  bv: ShapedArray,
  shape: readonly number[],
): string {
  const fa = freeAxes(av.shape.length, ca, ba),
    fb = freeAxes(bv.shape.length, cb, bb);
  const size = (x: ShapedArray, axes: readonly number[]) => axes.reduce((p, i) => p * x.shape[i], 1);
  const nb = size(av, ba),
    m = size(av, fa),
    k = size(av, ca),
    n = size(bv, fb);
  const isIdentity = (perm: number[]) => perm.every((v, i) => v === i);
  const arrange = (x: string, v: ShapedArray, perm: number[], dims: number[]) => {
    const t = isIdentity(perm) ? x : e.op('Transpose', [x], { perm });
    return shapesEqual(
      perm.map((i) => v.shape[i]),
      dims,
    )
      ? t
      : e.op('Reshape', [t, e.ints(dims)], { allowzero: 1 });
  };
  let y: string;
  if (ba.length === 0 && isFloat(av.dtype)) {
    // Gemm reads either layout of each operand, so only genuine reorderings need a Transpose.
    const transA = isIdentity([...ca, ...fa]) && !isIdentity([...fa, ...ca]) ? 1 : 0;
    const transB = isIdentity([...fb, ...cb]) && !isIdentity([...cb, ...fb]) ? 1 : 0;
    const A = transA ? arrange(a, av, [...ca, ...fa], [k, m]) : arrange(a, av, [...fa, ...ca], [m, k]);
    const B = transB ? arrange(b, bv, [...fb, ...cb], [n, k]) : arrange(b, bv, [...cb, ...fb], [k, n]);
    y = e.op('Gemm', [A, B], { transA, transB });
  } else {
    const lead = ba.length ? [nb] : [];
    y = e.op('MatMul', [
      arrange(a, av, [...ba, ...fa, ...ca], [...lead, m, k]),
      arrange(b, bv, [...bb, ...cb, ...fb], [...lead, k, n]),
    ]);
  }
  return shapesEqual([...(ba.length ? [nb] : []), m, n], shape)
    ? y
    : e.op('Reshape', [y, e.ints(shape)], { allowzero: 1 });
}

// The cotangent of one operand is the contraction of ct with the other operand, then a
// permutation back into the operand's axis order (JAX's _dot_general_transpose_lhs).
function transposeLhs(ct: Array, b: Array, aNd: number, { contract: [ca, cb], batch: [ba, bb] }: DotParams): Array {
  const bNd = b.shape.length;
  const fa = freeAxes(aNd, ca, ba);
  const fb = freeAxes(bNd, cb, bb);
  const nBatch = ba.length;
  // ct axes: [batch, fa, fb]; contract ct's fb with b's fb, batch with batch.
  const ctFb = fb.map((_, i) => nBatch + fa.length + i);
  const res = dotGeneral(ct, b, { contract: [ctFb, fb], batch: [ba.map((_, i) => i), bb] });
  // res axes: [batch, fa, b's remaining = cb order sorted by b axis]
  const cbSorted = [...cb].sort((x, y) => x - y);
  const resAxesForA = [...ba, ...fa, ...cbSorted.map((x) => ca[cb.indexOf(x)])];
  const perm = range(aNd).map((ax) => resAxesForA.indexOf(ax));
  return transpose(res, perm);
}
function transposeRhs(ct: Array, a: Array, bNd: number, { contract: [ca, cb], batch: [ba, bb] }: DotParams): Array {
  // Swap roles: ct's free axes order is [fa, fb], so move fb first then reuse transposeLhs.
  const aNd = a.shape.length;
  const fa = freeAxes(aNd, ca, ba);
  const fb = freeAxes(bNd, cb, bb);
  const nBatch = ba.length;
  const perm = [...ba.keys(), ...fb.map((_, i) => nBatch + fa.length + i), ...fa.map((_, i) => nBatch + i)];
  return transposeLhs(transpose(ct, perm), a, bNd, { contract: [cb, ca], batch: [bb, ba] });
}

/** Copies `x` into the axis order `perm` unless it already is. */
const contiguous = (x: ConcreteArray, perm: number[]) =>
  perm.every((p, i) => p === i) ? x : transposeP.impl([x], { perm })[0];

/**
 * out[b, i, :] = sum_k x[b, i, k] * Y[b, k, :] where x is read through its axis groups
 * `[batch, rows, contract]` and Y is contiguous `[batch, contract, cols]`. Rows accumulate in
 * float64 (integers wrap as int32).
 */
function matmulRows(
  x: ConcreteArray,
  [bx, rx, kx]: (readonly number[])[],
  Y: ArrayLike<number>,
  nb: number,
  rows: number,
  k: number,
  cols: number,
) {
  const st = stridesOf(x.shape);
  const offs = (axes: readonly number[]) =>
    stridedOffsets(
      axes.map((i) => x.shape[i]),
      axes.map((i) => st[i]),
    );
  const xB = offs(bx),
    xR = offs(rx),
    xK = offs(kx);
  const X = x.buffer;
  const out = allocate(x.dtype, nb * rows * cols);
  const acc = new Float64Array(cols);
  const integer = !isFloat(x.dtype);
  for (let bi = 0; bi < nb; bi++) {
    for (let i = 0; i < rows; i++) {
      acc.fill(0);
      const xRow = xB[bi] + xR[i];
      let kk = 0;
      // Four rows of Y per pass over the accumulator: a quarter of the loads and stores.
      if (!integer) {
        for (; kk + 4 <= k; kk += 4) {
          const v0 = X[xRow + xK[kk]],
            v1 = X[xRow + xK[kk + 1]],
            v2 = X[xRow + xK[kk + 2]],
            v3 = X[xRow + xK[kk + 3]];
          const r0 = (bi * k + kk) * cols,
            r1 = r0 + cols,
            r2 = r1 + cols,
            r3 = r2 + cols;
          for (let j = 0; j < cols; j++) acc[j] += v0 * Y[r0 + j] + v1 * Y[r1 + j] + v2 * Y[r2 + j] + v3 * Y[r3 + j];
        }
      }
      for (; kk < k; kk++) {
        const v = X[xRow + xK[kk]];
        if (v === 0) continue;
        const yRow = (bi * k + kk) * cols;
        if (integer) for (let j = 0; j < cols; j++) acc[j] = (acc[j] + Math.imul(v, Y[yRow + j])) | 0;
        else for (let j = 0; j < cols; j++) acc[j] += v * Y[yRow + j];
      }
      const o = (bi * rows + i) * cols;
      for (let j = 0; j < cols; j++) out[o + j] = acc[j];
    }
  }
  return out;
}

/**
 * lax.dotGeneral: contraction with batch dimensions; output axes `[...batch, ...lhs free, ...rhs
 * free]`. @category lax
 */
export const dotGeneral = (a: Array, b: Array, p: DotParams) => bind1(dotGeneralP, [a, b], p);
