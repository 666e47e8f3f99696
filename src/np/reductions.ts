/**
 * Reductions with numpy's `axis` / `keepdims` options.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { isFloat } from '../core/dtype.js';
import { ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import type { Primitive } from '../core/primitive.js';
import { normAxes, normAxis, sizeOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import * as P from '../primitives/index.js';
import { asArray } from './convert.js';
import { stopGradient } from './math.js';
import { takeAlongAxis } from './indexing.js';

/** Options of reductions: `axis` (number, list, or all when omitted/null) and `keepdims`. @category Reductions */
export interface ReduceOptions {
  axis?: number | number[] | null;
  keepdims?: boolean;
}
const reduceProps = { axis: codecs.axis, keepdims: t.boolean };

function keep(y: Array, x: Array, axes: number[], keepdims: boolean | undefined): Array {
  return keepdims
    ? P.reshape(
        y,
        x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
      )
    : y;
}

/** Refuses a reduction without an identity (max, min, argmax, argmin) over an empty axis, as NumPy and JAX. */
function needsElements(name: string, a: Array, axes: readonly number[]): void {
  if (axes.some((ax) => a.shape[ax] === 0))
    throw new ValueError(
      `${name}: zero-size array ${fmtShape(a.shape)} along axis ${axes.find((ax) => a.shape[ax] === 0)} has no identity`,
    );
}
const reducer =
  (name: string, prim: Primitive, prepareInput: (x: Array) => Array = (x) => x, identity = true) =>
  (x: ArrayLike, opts?: ReduceOptions): Array => {
    const o = checkOptions(name, reduceProps, opts);
    const a = prepareInput(asArray(x));
    const axes = normAxes(name, o.axis, a.ndim);
    if (!identity) needsElements(name, a, axes);
    const y = axes.length ? bind1(prim, [a], { axes }) : a;
    return keep(y, a, axes, o.keepdims);
  };
const boolToInt = (x: Array) => (x.dtype === 'bool' ? P.cast(x, 'int32') : x);

/**
 * Sum over `axis` (all by default). bool sums as int32. @example np.sum(x, {axis: 1, keepdims: true})
 * @category Reductions
 */
export const sum = reducer('sum', P.reduceSumP, boolToInt);
/** Product over `axis`. @category Reductions */
export const prod = reducer('prod', P.reduceProdP, boolToInt);
/** Maximum over `axis`. @category Reductions */
export const max = reducer('max', P.reduceMaxP, (x) => x, false);
/** Minimum over `axis`. @category Reductions */
export const min = reducer('min', P.reduceMinP, (x) => x, false);
/** Is every element true over `axis`? @category Reductions */
export const all = reducer('all', P.reduceMinP, (x) => P.cast(x, 'bool'));
/** Is any element true over `axis`? @category Reductions */
export const any = reducer('any', P.reduceMaxP, (x) => P.cast(x, 'bool'));

const count = (x: Array, axes: number[]) => sizeOf(axes.map((a) => x.shape[a]));
const toFloat = (x: Array) => (isFloat(x.dtype) ? x : P.cast(x, 'float32'));

/** Arithmetic mean over `axis` (integers average as float32). @category Reductions */
export function mean(x: ArrayLike, opts?: ReduceOptions): Array {
  const o = checkOptions('mean', reduceProps, opts);
  const a = toFloat(asArray(x));
  const axes = normAxes('mean', o.axis, a.ndim);
  const s = sum(a, o);
  return P.div(s, P.fullLike(s, count(a, axes)));
}

/** Variance over `axis`, `ddof` as in numpy (0: biased). @category Reductions */
export function variance(x: ArrayLike, opts?: ReduceOptions & { ddof?: number }): Array {
  const o = checkOptions('var', { ...reduceProps, ddof: t.number }, opts);
  const a = toFloat(asArray(x));
  const axes = normAxes('var', o.axis, a.ndim);
  const centered = P.sub(
    a,
    P.broadcastInDim(
      mean(a, { axis: axes, keepdims: true }),
      a.shape,
      a.shape.map((_, i) => i),
    ),
  );
  const s = sum(P.mul(centered, centered), { axis: axes, keepdims: o.keepdims });
  // Degrees of freedom past the count divide by zero (inf or NaN), as NumPy.
  return P.div(s, P.fullLike(s, Math.max(0, count(a, axes) - (o.ddof ?? 0))));
}
export { variance as var };

/** Standard deviation over `axis`. @category Reductions */
export const std = (x: ArrayLike, opts?: ReduceOptions & { ddof?: number }): Array =>
  bind1(P.sqrtP, [variance(x, opts)]);

/** log(sum(exp(x))) over `axis`, computed stably (shifted by the max). @category Reductions */
export function logsumexp(x: ArrayLike, opts?: ReduceOptions): Array {
  const o = checkOptions('logsumexp', reduceProps, opts);
  const a = toFloat(asArray(x));
  const axes = normAxes('logsumexp', o.axis, a.ndim);
  const m = max(a, { axis: axes, keepdims: true });
  // An all -inf row would give inf - inf; shift by 0 there instead.
  const safeM = stopGradient(P.select(bind1(P.isFiniteP, [m]), m, P.zerosLike(m)));
  const full = P.broadcastInDim(
    safeM,
    a.shape,
    a.shape.map((_, i) => i),
  );
  const s = sum(P.exp(P.sub(a, full)), { axis: axes, keepdims: true });
  const y = P.add(P.log(s), safeM);
  return o.keepdims
    ? y
    : P.reshape(
        y,
        a.shape.filter((_, i) => !axes.includes(i)),
      );
}

/**
 * Cumulative sum along `axis` (flattened when omitted), by doubling steps (Hillis-Steele: each
 * adds the sums `2^k` positions back), so a NaN or infinity reaches only the positions after it.
 * Differentiable and batchable like the slices and pads it is made of.
 * @example np.cumsum(np.array([1, 2, 3])) // [1, 3, 6]
 * @category Reductions
 */
export function cumsum(x: ArrayLike, opts?: { axis?: number }): Array {
  const o = checkOptions('cumsum', { axis: t.number }, opts);
  let a = asArray(x);
  if (o.axis === undefined) a = P.reshape(a, [a.size]);
  const axis = normAxis('cumsum', o.axis ?? 0, a.ndim);
  const n = a.shape[axis];
  let y = P.cast(a, a.dtype === 'bool' ? 'int32' : a.dtype);
  const zero = a.shape.map(() => 0);
  for (let k = 1; k < n; k *= 2) {
    // The sums k positions back: drop the last k along the axis, pad k zeros in front.
    const back = P.pad(
      y,
      zero.map((_, i) => (i === axis ? k : 0)),
      zero.map((_, i) => (i === axis ? -k : 0)),
      zero,
      0,
    );
    y = P.add(y, back);
  }
  return y;
}

/** Indices that sort `x` along `axis` (default last; stable). @category Reductions */
export function argsort(x: ArrayLike, opts?: { axis?: number; descending?: boolean }): Array {
  const o = checkOptions('argsort', { axis: t.number, descending: t.boolean }, opts);
  const a = asArray(x);
  const axis = normAxis('argsort', o.axis ?? -1, a.ndim);
  const last = a.ndim - 1;
  const perm = a.shape.map((_, i) => (i === axis ? last : i === last ? axis : i));
  return P.transpose(bind1(P.argsortP, [P.transpose(a, perm)], { descending: o.descending ?? false }), perm);
}

/** Sorted copy along `axis` (default last). Differentiable (gradients follow the permutation). @category Reductions */
export function sort(x: ArrayLike, opts?: { axis?: number; descending?: boolean }): Array {
  const a = asArray(x);
  const axis = normAxis('sort', opts?.axis ?? -1, a.ndim);
  return takeAlongAxis(a, argsort(a, opts), axis);
}

const argReducer =
  (name: string, prim: Primitive) =>
  (x: ArrayLike, opts?: { axis?: number | null; keepdims?: boolean }): Array => {
    const o = checkOptions(name, { axis: t.union([t.number, t.null]), keepdims: t.boolean }, opts);
    const a = asArray(x);
    needsElements(
      name,
      a,
      o.axis === undefined || o.axis === null ? a.shape.map((_, i) => i) : [normAxis(name, o.axis, a.ndim)],
    );
    if (o.axis === undefined || o.axis === null) {
      const flat = P.reshape(a, [a.size]);
      const y = bind1(prim, [flat], { axis: 0, indexDtype: 'int32' });
      return o.keepdims
        ? P.reshape(
            y,
            a.shape.map(() => 1),
          )
        : y;
    }
    const axis = normAxis(name, o.axis, a.ndim);
    const y = bind1(prim, [a], { axis, indexDtype: 'int32' });
    return keep(y, a, [axis], o.keepdims);
  };
/** Index of the maximum along `axis` (over the flattened array when omitted). @category Reductions */
export const argmax = argReducer('argmax', P.argmaxP);
/** Index of the minimum along `axis`. @category Reductions */
export const argmin = argReducer('argmin', P.argminP);
