/**
 * dot_general: contraction with batch dimensions (matmul, einsum and tensordot are composites).
 * Output axes are `[...batch, ...lhs free, ...rhs free]`, as in XLA.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { allocate, isFloat } from '../core/dtype.js';
import { ShapeError } from '../core/errors.js';
import { type Primitive, UndefinedPrimal, definePrimitive } from '../core/primitive.js';
import { stridesOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { expectSameDType, fmt, range, stridedOffsets } from './util.js';
import { transpose } from './views.js';
import { add } from './elementwise.js';

export interface DotParams {
  /** [lhs axes, rhs axes] contracted pairwise. */
  contract: readonly [readonly number[], readonly number[]];
  /** [lhs axes, rhs axes] that are batch dimensions (they lead the output). */
  batch: readonly [readonly number[], readonly number[]];
}

const freeAxes = (nd: number, ...used: (readonly number[])[]) => range(nd).filter((i) => !used.some((u) => u.includes(i)));

export const dotGeneralP: Primitive<DotParams> = definePrimitive({
  name: 'dot_general',
  props: { linear: true },
  abstractEval([a, b], { contract: [ca, cb], batch: [ba, bb] }) {
    const dtype = expectSameDType('dot_general', [a, b]);
    const bad =
      ca.length !== cb.length || ba.length !== bb.length ||
      ca.some((x, i) => a.shape[x] === undefined || a.shape[x] !== b.shape[cb[i]]) ||
      ba.some((x, i) => a.shape[x] === undefined || a.shape[x] !== b.shape[bb[i]]) ||
      new Set([...ca, ...ba]).size !== ca.length + ba.length || new Set([...cb, ...bb]).size !== cb.length + bb.length;
    if (bad) {
      throw new ShapeError(`dot_general: cannot contract ${fmt(a.shape)} axes [${ca}] with ${fmt(b.shape)} axes [${cb}] (batch [${ba}] / [${bb}])`);
    }
    if (dtype === 'bool') throw new ShapeError('dot_general: bool operands are not supported; cast first');
    const fa = freeAxes(a.shape.length, ca, ba), fb = freeAxes(b.shape.length, cb, bb);
    return [{ shape: [...ba.map((i) => a.shape[i]), ...fa.map((i) => a.shape[i]), ...fb.map((i) => b.shape[i])], dtype }];
  },
  impl([a, b], { contract: [ca, cb], batch: [ba, bb] }) {
    const fa = freeAxes(a.shape.length, ca, ba), fb = freeAxes(b.shape.length, cb, bb);
    // Offset tables per index group, so operands are read in place (no transposed copies);
    // the loop is i-k-j with the output row accumulated in float64.
    const as = stridesOf(a.shape), bs = stridesOf(b.shape);
    const offs = (shape: readonly number[], st: number[], axes: readonly number[]) => stridedOffsets(axes.map((i) => shape[i]), axes.map((i) => st[i]));
    const aB = offs(a.shape, as, ba), aM = offs(a.shape, as, fa), aK = offs(a.shape, as, ca);
    const bB = offs(b.shape, bs, bb), bK = offs(b.shape, bs, cb), bN = offs(b.shape, bs, fb);
    const nb = aB.length, m = aM.length, k = aK.length, n = bN.length;
    const contiguousN = fb.every((ax, i) => ax === b.shape.length - fb.length + i);
    const A = a.buffer, B = b.buffer;
    const shape = [...ba.map((i) => a.shape[i]), ...fa.map((i) => a.shape[i]), ...fb.map((i) => b.shape[i])];
    const acc = new Float64Array(n);
    const out = allocate(a.dtype, nb * m * n);
    const integer = !isFloat(a.dtype);
    for (let bi = 0; bi < nb; bi++) {
      for (let i = 0; i < m; i++) {
        acc.fill(0);
        const aRow = aB[bi] + aM[i];
        for (let kk = 0; kk < k; kk++) {
          const av = A[aRow + aK[kk]];
          if (av === 0) continue;
          const bRow = bB[bi] + bK[kk];
          if (integer) for (let j = 0; j < n; j++) acc[j] = (acc[j] + Math.imul(av, B[bRow + bN[j]])) | 0;
          else if (contiguousN) for (let j = 0; j < n; j++) acc[j] += av * B[bRow + j];
          else for (let j = 0; j < n; j++) acc[j] += av * B[bRow + bN[j]];
        }
        const o = (bi * m + i) * n;
        for (let j = 0; j < n; j++) out[o + j] = acc[j];
      }
    }
    return [new ConcreteArray(out, shape, a.dtype)];
  },
  jvp([a, b], [ta, tb], p) {
    return [[dotGeneral(a, b, p)], [add(dotGeneral(ta, b, p), dotGeneral(a, tb, p))]];
  },
  batch([a, b], [da, db], { contract: [ca, cb], batch: [ba, bb] }) {
    const shift = (axes: readonly number[], d: number) => axes.map((x) => (x >= d ? x + 1 : x));
    if (da !== null && db !== null) {
      // Both batched: the vmapped axis becomes a new leading batch dimension.
      const p: DotParams = { contract: [shift(ca, da), shift(cb, db)], batch: [[da, ...shift(ba, da)], [db, ...shift(bb, db)]] };
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
    const aU = a instanceof UndefinedPrimal, bU = b instanceof UndefinedPrimal;
    return [aU ? transposeLhs(ct, b as Array, a.aval.shape.length, p) : null, bU ? transposeRhs(ct, a as Array, b.aval.shape.length, p) : null];
  },
});

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

export const dotGeneral = (a: Array, b: Array, p: DotParams) => bind1(dotGeneralP, [a, b], p);
