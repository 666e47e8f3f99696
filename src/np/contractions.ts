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
  if (a.ndim === 0 || b.ndim === 0) return P.mul(...promotedBroadcast(a, b));
  if (b.ndim === 1) return tensordot(a, b, [[a.ndim - 1], [0]]);
  return tensordot(a, b, [[a.ndim - 1], [b.ndim - 2]]);
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
  return P.dotGeneral(a, b, { contract: [ca, cb], batch: [[], []] });
}

/** Outer product of the flattened operands. @category Linear algebra */
export const outer = (x: ArrayLike, y: ArrayLike): Array => tensordot(ravel(x), ravel(y), 0);
/** Inner product over the last axes. @category Linear algebra */
export function inner(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = promoted(x, y);
  return tensordot(a, b, [[a.ndim - 1], [b.ndim - 1]]);
}

/**
 * Einstein summation, e.g. `'ij,jk->ik'`, `'bij,bjk->bik'`, `'ii->i'` is not supported (no
 * repeated index within one operand). Without `->` the output is the indices that appear once,
 * sorted. Operands are contracted left to right with dot_general.
 * @example np.einsum('ij,j->i', A, v)
 * @category Linear algebra
 */
export function einsum(spec: string, ...operands: ArrayLike[]): Array {
  const [lhs, rhsGiven] = spec.replace(/\s/g, '').split('->');
  const inputs = lhs.split(',');
  if (inputs.length !== operands.length)
    throw new ValueError(`einsum: '${spec}' names ${inputs.length} operands, got ${operands.length}`);
  if (spec.includes('.')) throw new ValueError(`einsum: ellipsis ('...') is not supported in '${spec}'`);
  const counts = new Map<string, number>();
  for (const s of inputs) for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  const out =
    rhsGiven ??
    [...counts.keys()]
      .filter((c) => counts.get(c) === 1)
      .sort()
      .join('');
  const arrays = operands.map((x) => asArray(x));
  const dtype = promote(arrays.map((a) => a.dtype));
  const sizes = new Map<string, number>();
  let terms = inputs.map((s, i) => {
    const a = P.cast(arrays[i], dtype);
    if (s.length !== a.ndim)
      throw new ShapeError(`einsum: operand ${i} has shape ${fmtShape(a.shape)} but subscripts '${s}'`);
    if (new Set(s).size !== s.length)
      throw new ValueError(`einsum: repeated index in operand '${s}' (diagonals) is not supported`);
    [...s].forEach((c, k) => {
      if (sizes.has(c) && sizes.get(c) !== a.shape[k])
        throw new ShapeError(`einsum: index '${c}' has sizes ${sizes.get(c)} and ${a.shape[k]}`);
      sizes.set(c, a.shape[k]);
    });
    return { s, a };
  });
  for (const c of out)
    if (!sizes.has(c)) throw new ValueError(`einsum: output index '${c}' does not appear in the inputs`);
  // Sum out indices that appear in one operand only and not in the output.
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
  return P.transpose(
    acc.a,
    [...out].map((c) => acc.s.indexOf(c)),
  );
}
