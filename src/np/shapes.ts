/**
 * Shape manipulation: reshape, transpose, stacking, splitting, padding, tiling, ...
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { promote } from '../core/dtype.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import { checkCount, normAxes, normAxis, sizeOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo as broadcastArray, fromNested, prepare } from './convert.js';

/** New shape, same elements; one entry may be -1. @example np.reshape(np.arange(6), [2, -1]) @category Shapes */
export function reshape(x: ArrayLike, shape: readonly number[]): Array {
  const a = asArray(x);
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError(`reshape: only one dimension may be -1, got [${shape}]`);
  let s = [...shape];
  if (unknown === 1) {
    const known = sizeOf(shape.filter((d) => d !== -1));
    if (known === 0 || a.size % known !== 0)
      throw new ShapeError(`reshape: cannot reshape ${fmtShape(a.shape)} into [${shape}]`);
    s = shape.map((d) => (d === -1 ? a.size / known : d));
  }
  return P.reshape(a, s);
}
/** Flattens to 1-D. @category Shapes */
export const ravel = (x: ArrayLike): Array => reshape(x, [-1]);

/** Permutes axes (reverses them when `axes` is omitted). @category Shapes */
export function transpose(x: ArrayLike, axes?: readonly number[]): Array {
  const a = asArray(x);
  const perm = axes ? axes.map((ax) => normAxis('transpose', ax, a.ndim)) : a.shape.map((_, i) => a.ndim - 1 - i);
  if (perm.length !== a.ndim || new Set(perm).size !== perm.length)
    throw new ValueError(
      `transpose: axes [${axes}] are not a permutation of the ${a.ndim} axes of ${fmtShape(a.shape)}`,
    );
  return P.transpose(a, perm);
}
/** Swaps two axes. @category Shapes */
export function swapaxes(x: ArrayLike, a1: number, a2: number): Array {
  const a = asArray(x);
  const perm = a.shape.map((_, i) => i);
  const [i, j] = [normAxis('swapaxes', a1, a.ndim), normAxis('swapaxes', a2, a.ndim)];
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return P.transpose(a, perm);
}
/** Moves axis `source` to position `destination`. @category Shapes */
export function moveaxis(x: ArrayLike, source: number, destination: number): Array {
  const a = asArray(x);
  const s = normAxis('moveaxis', source, a.ndim),
    d = normAxis('moveaxis', destination, a.ndim);
  const perm = a.shape.map((_, i) => i).filter((i) => i !== s);
  perm.splice(d, 0, s);
  return P.transpose(a, perm);
}
/** Inserts size-1 axes at `axis` (positions in the result). @category Shapes */
export function expandDims(x: ArrayLike, axis: number | readonly number[]): Array {
  const a = asArray(x);
  if (axis === null || (typeof axis !== 'number' && !globalThis.Array.isArray(axis)))
    throw new ValueError(`expandDims: axis must be an integer or a list of integers, got ${String(axis).slice(0, 20)}`);
  const list = typeof axis === 'number' ? [axis] : axis;
  const nd = a.ndim + list.length;
  const axes = normAxes('expandDims', list, nd);
  const shape: number[] = [];
  let k = 0;
  for (let i = 0; i < nd; i++) shape.push(axes.includes(i) ? 1 : a.shape[k++]);
  return P.reshape(a, shape);
}
/** Removes size-1 axes (all, or those in `axis`). @category Shapes */
export function squeeze(x: ArrayLike, opts?: { axis?: number | number[] }): Array {
  const a = asArray(x);
  const o = checkOptions('squeeze', { axis: codecs.axis }, opts);
  const axes =
    o.axis === undefined || o.axis === null
      ? a.shape.flatMap((d, i) => (d === 1 ? [i] : []))
      : normAxes('squeeze', o.axis, a.ndim);
  for (const ax of axes)
    if (a.shape[ax] !== 1)
      throw new ShapeError(`squeeze: axis ${ax} of ${fmtShape(a.shape)} has size ${a.shape[ax]}, not 1`);
  return P.reshape(
    a,
    a.shape.filter((_, i) => !axes.includes(i)),
  );
}
/** Broadcasts to `shape` with numpy rules. @category Shapes */
export const broadcastTo = (x: ArrayLike, shape: readonly number[]): Array => broadcastArray(asArray(x), shape);
/** Broadcasts several arrays against each other. @category Shapes */
export const broadcastArrays = (...xs: ArrayLike[]): Array[] => prepare('broadcastArrays', xs);

/**
 * Joins arrays along an existing axis (default 0), promoting dtypes. @example np.concatenate([a, b],
 * {axis: 1}) @category Shapes
 */
export function concatenate(xs: readonly ArrayLike[], opts?: { axis?: number }): Array {
  const o = checkOptions('concatenate', { axis: codecs.number }, opts);
  if (xs.length === 0) throw new ValueError('concatenate: needs at least one array');
  const arrays = xs.map((x) => asArray(x));
  const dtype = promote(arrays.map((a) => a.dtype));
  if (arrays[0].ndim === 0) throw new ShapeError('concatenate: zero-dimensional arrays cannot be concatenated');
  const axis = normAxis('concatenate', o.axis ?? 0, arrays[0].ndim);
  return bind1(
    P.concatenateP,
    arrays.map((a) => P.cast(a, dtype)),
    { axis },
  );
}
/** Joins arrays along a new axis. @category Shapes */
export function stack(xs: readonly ArrayLike[], opts?: { axis?: number }): Array {
  const o = checkOptions('stack', { axis: codecs.number }, opts);
  if (xs.length === 0) throw new ValueError('stack: needs at least one array');
  const arrays = xs.map((x) => asArray(x));
  const axis = normAxis('stack', o.axis ?? 0, arrays[0].ndim + 1);
  return concatenate(
    arrays.map((a) => expandDims(a, axis)),
    { axis },
  );
}
/** Splits into `sections` equal parts or at the given indices along `axis`. @category Shapes */
export function split(x: ArrayLike, sections: number | readonly number[], opts?: { axis?: number }): Array[] {
  const a = asArray(x);
  const o = checkOptions('split', { axis: codecs.number }, opts);
  const axis = normAxis('split', o.axis ?? 0, a.ndim);
  if (typeof sections === 'number' && !(Number.isSafeInteger(sections) && sections > 0))
    throw new ValueError(`split: sections must be a positive integer or a list of indices, got ${sections}`);
  if (typeof sections !== 'number' && !globalThis.Array.isArray(sections))
    throw new ValueError(`split: sections must be a number or a list of indices, got ${String(sections).slice(0, 20)}`);
  const n = a.shape[axis];
  let cuts: number[];
  if (typeof sections === 'number') {
    // Only an empty axis splits into more sections than it has elements; each is an array object.
    if (sections > Math.max(n, 2 ** 16))
      throw new ValueError(`split: ${sections} sections of an axis of size ${n} are too many arrays to make`);
    if (sections <= 0 || n % sections !== 0)
      throw new ValueError(`split: axis ${axis} of size ${n} does not divide into ${sections} equal sections`);
    cuts = globalThis.Array.from({ length: sections - 1 }, (_, i) => ((i + 1) * n) / sections);
  } else cuts = [...sections];
  // Cuts are slice bounds: negative ones count from the end, as in Python.
  const bounds = [0, ...cuts.map((c) => Math.min(Math.max(c < 0 ? c + n : c, 0), n)), n];
  return bounds.slice(0, -1).map((s, i) =>
    bind1(P.sliceP, [a], {
      start: a.shape.map((_, k) => (k === axis ? s : 0)),
      limit: a.shape.map((d, k) => (k === axis ? Math.max(s, bounds[i + 1]) : d)),
      strides: a.shape.map(() => 1),
    }),
  );
}
/** Repeats the whole array `reps` times per axis. @category Shapes */
export function tile(x: ArrayLike, reps: number | readonly number[]): Array {
  let a = asArray(x);
  const r = (typeof reps === 'number' ? [reps] : [...reps]).map((v) => checkCount('tile', 'reps', v));
  while (a.ndim < r.length) a = expandDims(a, 0);
  while (r.length < a.ndim) r.unshift(1);
  // Broadcast a new axis before each axis, then merge: [r0, d0, r1, d1, ...] -> [r0*d0, ...]
  const shape = a.shape.flatMap((d, i) => [r[i], d]);
  const b = P.broadcastInDim(
    a,
    shape,
    a.shape.map((_, i) => 2 * i + 1),
  );
  return P.reshape(
    b,
    a.shape.map((d, i) => d * r[i]),
  );
}
/** Repeats each element `repeats` times along `axis` (flattened when omitted). @category Shapes */
export function repeat(x: ArrayLike, repeats: number, opts?: { axis?: number }): Array {
  const o = checkOptions('repeat', { axis: codecs.number }, opts);
  checkCount('repeat', 'repeats', repeats);
  let a = asArray(x);
  if (o.axis === undefined) a = ravel(a);
  const axis = normAxis('repeat', o.axis ?? 0, a.ndim);
  const shape = [...a.shape.slice(0, axis + 1), repeats, ...a.shape.slice(axis + 1)];
  const b = P.broadcastInDim(
    a,
    shape,
    a.shape.map((_, i) => (i <= axis ? i : i + 1)),
  );
  return P.reshape(
    b,
    a.shape.map((d, i) => (i === axis ? d * repeats : d)),
  );
}

/**
 * Pads with a constant. `padWidth` is `n`, `[before, after]` or one pair per axis.
 * @example np.pad(x, [[1, 1], [2, 0]], {constantValues: 0})
 * @category Shapes
 */
export function pad(
  x: ArrayLike,
  padWidth: number | readonly number[] | readonly (readonly number[])[],
  opts?: { constantValues?: number; mode?: PadMode },
): Array {
  const o = checkOptions(
    'pad',
    {
      constantValues: codecs.number,
      mode: t.keyof({ constant: null, edge: null, reflect: null, symmetric: null, wrap: null, empty: null }),
    },
    opts,
  );
  const a = asArray(x);
  if (typeof padWidth === 'number') checkCount('pad', 'padWidth', padWidth);
  else if (!globalThis.Array.isArray(padWidth))
    throw new ValueError(`pad: padWidth must be a number or a list, got ${String(padWidth).slice(0, 20)}`);
  const pairs: number[][] =
    typeof padWidth === 'number'
      ? a.shape.map(() => [padWidth, padWidth])
      : typeof padWidth[0] === 'number'
        ? a.shape.map(() => [...(padWidth as number[])])
        : (padWidth as number[][]).map((p) => [...p]);
  if (pairs.length !== a.ndim || pairs.some((p) => p.length !== 2 || p.some((v) => !Number.isInteger(v) || v < 0))) {
    throw new ValueError(
      `pad: padWidth ${JSON.stringify(padWidth)} does not fit an array of shape ${fmtShape(a.shape)}`,
    );
  }
  const mode = o.mode ?? 'constant';
  if (mode === 'constant' || mode === 'empty')
    return P.pad(
      a,
      pairs.map((p) => p[0]),
      pairs.map((p) => p[1]),
      pairs.map(() => 0),
      o.constantValues ?? 0,
    );
  // The other modes read the array itself: one gather per padded axis, with a static index table.
  return pairs.reduce((y, [before, after], axis) => {
    if (before === 0 && after === 0) return y;
    const n = y.shape[axis];
    if (n === 0)
      throw new ValueError(`pad: cannot pad an empty axis ${axis} of ${fmtShape(a.shape)} in mode '${mode}'`);
    const source = Int32Array.from({ length: n + before + after }, (_, k) => padSource(mode, k - before, n));
    return P.gather(y, fromNested(source, 'int32'), axis);
  }, a);
}
/** The `mode` of {@link pad}: NumPy's names. @category Shapes */
export type PadMode = 'constant' | 'edge' | 'reflect' | 'symmetric' | 'wrap' | 'empty';
/** The source index of position `i` (relative to the array's start) along an axis of length `n`. */
function padSource(mode: PadMode, i: number, n: number): number {
  const mod = (v: number, m: number) => ((v % m) + m) % m;
  if (mode === 'edge') return Math.min(Math.max(i, 0), n - 1);
  if (mode === 'wrap') return mod(i, n);
  if (mode === 'reflect') {
    if (n === 1) return 0;
    const j = mod(i, 2 * (n - 1));
    return j < n ? j : 2 * (n - 1) - j;
  }
  const j = mod(i, 2 * n); // symmetric: the edge repeats
  return j < n ? j : 2 * n - 1 - j;
}
/** Reverses the order of elements along `axis` (all axes by default). @category Shapes */
export function flip(x: ArrayLike, opts?: { axis?: number | number[] | null }): Array {
  const a = asArray(x);
  const axes = normAxes('flip', checkOptions('flip', { axis: codecs.axis }, opts).axis, a.ndim);
  return axes.length ? bind1(P.revP, [a], { axes }) : a;
}
/** Rolls elements by `shift` along `axis` (flattened when omitted). @category Shapes */
export function roll(x: ArrayLike, shift: number, opts?: { axis?: number }): Array {
  const o = checkOptions('roll', { axis: codecs.number }, opts);
  const a0 = asArray(x);
  const a = o.axis === undefined ? ravel(a0) : a0;
  const axis = normAxis('roll', o.axis ?? 0, a.ndim);
  const n = a.shape[axis];
  if (n === 0) return a0;
  const s = ((shift % n) + n) % n;
  const [head, tail] = split(a, [n - s], { axis });
  const out = concatenate([tail, head], { axis });
  return o.axis === undefined ? P.reshape(out, a0.shape) : out;
}
