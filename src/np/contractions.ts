/**
 * Contractions: matmul, dot, tensordot, einsum, outer. All lower to dot_general.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { promote } from '../core/dtype.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { broadcastShapes, normAxis } from '../core/shape.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo } from './convert.js';
import { expandDims, ravel } from './shapes.js';

function promoted(x: ArrayLike, y: ArrayLike): [Array, Array] {
  const a = asArray(x),
    b = asArray(y);
  const d = promote([a.dtype, b.dtype]);
  return [P.cast(a, d === 'bool' ? 'int32' : d), P.cast(b, d === 'bool' ? 'int32' : d)];
}

/**
 * Matrix product with numpy semantics: 1-D operands are promoted to matrices and the
 * added axis removed; leading (batch) axes broadcast.
 * @example np.matmul(np.ones([2, 3]), np.ones([3, 4])).shape // [2, 4]
 * @category Linear algebra
 */
export function matmul(x: ArrayLike, y: ArrayLike): Array {
  return asBoolIf(bothBool(x, y), matmulOf(x, y));
}
function matmulOf(x: ArrayLike, y: ArrayLike): Array {
  let [a, b] = promoted(x, y);
  if (a.ndim === 0 || b.ndim === 0)
    throw new ShapeError('matmul: operands must be at least 1-D (use multiply for scalars)');
  const aVec = a.ndim === 1,
    bVec = b.ndim === 1;
  if (aVec) a = expandDims(a, 0);
  if (bVec) b = expandDims(b, 1);
  const k = a.shape[a.ndim - 1];
  if (b.shape[b.ndim - 2] !== k)
    throw new ShapeError(
      `matmul: inner dimensions differ: ${fmtShape(asArray(x).shape)} @ ${fmtShape(asArray(y).shape)}`,
    );
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = batch.length;
  let out: Array;
  if (b.ndim === 2 && !bVec) {
    // Common case [..., M, K] @ [K, N]: contract without materialising a broadcast of b.
    out = P.dotGeneral(broadcastTo(a, [...batch, ...a.shape.slice(-2)]), b, {
      contract: [[nb + 1], [0]],
      batch: [[], []],
    });
  } else {
    a = broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
    b = broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
    const bd = batch.map((_, i) => i);
    out = P.dotGeneral(a, b, { contract: [[nb + 1], [nb]], batch: [bd, bd] });
  }
  const shape = [...out.shape];
  if (bVec) shape.splice(shape.length - 1, 1);
  if (aVec) shape.splice(shape.length - (bVec ? 1 : 2), 1);
  return P.reshape(out, shape);
}

/**
 * numpy `dot`: inner product for vectors, matmul for matrices, sum over a's last and b's
 * second-to-last axis otherwise. @category Linear algebra
 */
export function dot(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = promoted(x, y);
  const r =
    a.ndim === 0 || b.ndim === 0
      ? P.mul(...promotedBroadcast(a, b))
      : tensordot(a, b, b.ndim === 1 ? [[a.ndim - 1], [0]] : [[a.ndim - 1], [b.ndim - 2]]);
  return asBoolIf(bothBool(x, y), r);
}
function promotedBroadcast(a: Array, b: Array): [Array, Array] {
  const s = broadcastShapes('dot', a.shape, b.shape);
  return [broadcastTo(a, s), broadcastTo(b, s)];
}

/** Sums products over the given axes (`axes` = n means a's last n with b's first n). @category Linear algebra */
export function tensordot(
  x: ArrayLike,
  y: ArrayLike,
  axes: number | [readonly number[], readonly number[]] = 2,
): Array {
  const [a, b] = promoted(x, y);
  const [ca, cb] =
    typeof axes === 'number'
      ? [a.shape.map((_, i) => i).slice(a.ndim - axes), b.shape.map((_, i) => i).slice(0, axes)]
      : [
          axes[0].map((ax) => normAxis('tensordot', ax, a.ndim)),
          axes[1].map((ax) => normAxis('tensordot', ax, b.ndim)),
        ];
  return asBoolIf(bothBool(x, y), P.dotGeneral(a, b, { contract: [ca, cb], batch: [[], []] }));
}

/** Outer product of the flattened operands. @category Linear algebra */
export const outer = (x: ArrayLike, y: ArrayLike): Array => asBoolIf(bothBool(x, y), tensordot(ravel(x), ravel(y), 0));
/** Inner product over the last axes. @category Linear algebra */
export function inner(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = promoted(x, y);
  if (a.ndim === 0 || b.ndim === 0) return asBoolIf(bothBool(x, y), P.mul(...promotedBroadcast(a, b)));
  return asBoolIf(bothBool(x, y), tensordot(a, b, [[a.ndim - 1], [b.ndim - 1]]));
}

/**
 * Einstein summation as NumPy's: `'ij,jk->ik'`, `'bij,bjk->bik'`, `'...ij,...jk->...ik'` (an
 * ellipsis stands for broadcast leading axes), `'ii->i'` and `'ii'` (a repeated index takes a
 * diagonal), size-1 axes broadcast against their index's size elsewhere, and bool operands give
 * bool results (products are and, sums or). Without `->` the output is the ellipsis axes and the
 * indices that appear once, sorted. Operands are contracted left to right with dot_general.
 * @example np.einsum('ij,j->i', A, v)
 * @example np.einsum('...ij,...jk->...ik', a, b) // batched matmul
 * @category Linear algebra
 */
export function einsum(spec: string, ...operands: ArrayLike[]): Array {
  const [lhs, rhsGiven] = spec.replace(/\s/g, '').split('->');
  const given = lhs.split(',');
  if (given.length !== operands.length)
    throw new ValueError(`einsum: '${spec}' names ${given.length} operands, got ${operands.length}`);
  const arrays = operands.map((x) => asArray(x));
  for (const s of [...given, rhsGiven ?? ''])
    if (!/^[a-zA-Z]*(\.\.\.)?[a-zA-Z]*$/.test(s))
      throw new ValueError(`einsum: invalid subscripts '${s}' in '${spec}'`);
  // The ellipsis: fresh labels for the broadcast axes, right-aligned across operands.
  const named = given.map((s) => s.replace('...', '').length);
  const ellipsisDims = given.map((s, i) => (s.includes('...') ? arrays[i].ndim - named[i] : 0));
  if (ellipsisDims.some((d) => d < 0))
    throw new ShapeError(`einsum: an operand has fewer axes than its subscripts name in '${spec}'`);
  const width = Math.max(0, ...ellipsisDims);
  const fresh = globalThis.Array.from({ length: width }, (_, k) => String.fromCharCode(0x100 + k)).join('');
  const inputs = given.map((s, i) => s.replace('...', fresh.slice(width - ellipsisDims[i])));
  const counts = new Map<string, number>();
  for (const s of inputs) for (const c of new Set(s)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const out =
    rhsGiven !== undefined
      ? rhsGiven.replace('...', fresh)
      : fresh +
        [...counts.keys()]
          .filter(
            (c) =>
              counts.get(c) === 1 && !fresh.includes(c) && [...inputs.join('')].filter((d) => d === c).length === 1,
          )
          .sort()
          .join('');
  const inDtype = promote(arrays.map((a) => a.dtype));
  const dtype = inDtype === 'bool' ? 'int32' : inDtype;
  const sizes = new Map<string, number>();
  inputs.forEach((s, i) => {
    if (s.length !== arrays[i].ndim)
      throw new ShapeError(`einsum: operand ${i} has shape ${fmtShape(arrays[i].shape)} but subscripts '${given[i]}'`);
    [...s].forEach((c, k) => {
      const d = arrays[i].shape[k];
      const seen = sizes.get(c);
      if (seen !== undefined && seen !== d && seen !== 1 && d !== 1)
        throw new ShapeError(`einsum: index '${c}' has sizes ${seen} and ${d}`);
      if (seen === undefined || seen === 1) sizes.set(c, d);
    });
  });
  for (const c of out)
    if (!sizes.has(c)) throw new ValueError(`einsum: output index '${c}' does not appear in the inputs`);
  let terms = inputs.map((s, i) => {
    let a = P.cast(arrays[i], dtype);
    let labels = s;
    // A repeated index takes the diagonal: multiply by the identity over the pair and sum one out.
    for (let k = 0; k < labels.length; k++) {
      const j = labels.indexOf(labels[k], k + 1);
      if (j < 0) continue;
      if (a.shape[k] !== a.shape[j])
        throw new ShapeError(`einsum: repeated index '${labels[k]}' has sizes ${a.shape[k]} and ${a.shape[j]}`);
      const eye = P.cast(P.eq(P.iota(a.shape, 'int32', k), P.iota(a.shape, 'int32', j)), dtype);
      a = P.reduceSum(P.mul(a, eye), [j]);
      labels = labels.slice(0, j) + labels.slice(j + 1);
      k--;
    }
    // Size-1 axes broadcast to their index's size elsewhere.
    const full = [...labels].map((c) => sizes.get(c)!);
    if (full.some((d, k) => d !== a.shape[k])) a = broadcastTo(a, full);
    return { s: labels, a };
  });
  const needed = (c: string, skip: number) => out.includes(c) || terms.some((t, j) => j !== skip && t.s.includes(c));
  terms = terms.map((t, i) => {
    const axes = [...t.s].flatMap((c, k) => (needed(c, i) ? [] : [k]));
    return axes.length ? { s: [...t.s].filter((_, k) => !axes.includes(k)).join(''), a: P.reduceSum(t.a, axes) } : t;
  });
  let acc = terms[0];
  for (let i = 1; i < terms.length; i++) {
    const t = terms[i];
    const later = (c: string) => out.includes(c) || terms.slice(i + 1).some((u) => u.s.includes(c));
    const shared = [...acc.s].filter((c) => t.s.includes(c));
    const batch = shared.filter(later);
    const contract = shared.filter((c) => !later(c));
    const a = P.dotGeneral(acc.a, t.a, {
      contract: [contract.map((c) => acc.s.indexOf(c)), contract.map((c) => t.s.indexOf(c))],
      batch: [batch.map((c) => acc.s.indexOf(c)), batch.map((c) => t.s.indexOf(c))],
    });
    const s = [
      ...batch,
      ...[...acc.s].filter((c) => !shared.includes(c)),
      ...[...t.s].filter((c) => !shared.includes(c)),
    ].join('');
    // Indices no longer needed after this step are summed now.
    const drop = [...s].flatMap((c, k) => (later(c) ? [] : [k]));
    acc = drop.length ? { s: [...s].filter((_, k) => !drop.includes(k)).join(''), a: P.reduceSum(a, drop) } : { s, a };
  }
  const leftover = [...acc.s].flatMap((c, k) => (out.includes(c) ? [] : [k]));
  if (leftover.length)
    acc = { s: [...acc.s].filter((_, k) => !leftover.includes(k)).join(''), a: P.reduceSum(acc.a, leftover) };
  return asBoolIf(
    inDtype,
    P.transpose(
      acc.a,
      [...out].map((c) => acc.s.indexOf(c)),
    ),
  );
}
/** Bool contractions count in int32 and answer whether any product was true (NumPy's or of ands). */
const asBoolIf = (dtype: string, y: Array): Array => (dtype === 'bool' ? P.ne(y, P.zerosLike(y)) : y);
const bothBool = (x: ArrayLike, y: ArrayLike) => promote([asArray(x).dtype, asArray(y).dtype]);
