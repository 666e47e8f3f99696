/**
 * Statistics, searching and counting: nan-reductions, order statistics, histograms, cumulative
 * products and differences, comparisons of whole arrays, and the data-dependent functions
 * (`unique`, `nonzero`, `bincount`, `histogram`), which take JAX's static `size`/`length` under
 * `jit` and compute it from the values when called eagerly.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { type DType, isFloat, promote } from '../core/dtype.js';
import { ShapeError, TraceError, ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import { normAxes, normAxis } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import * as lax from '../primitives/index.js';

/** The strict primitives this module uses, plus the few it names by their primitive. */
const P = {
  ...lax,
  slice: (x: Array, start: number[], limit: number[]) =>
    bind1(lax.sliceP, [x], { start, limit, strides: start.map(() => 1) }),
  rem: (x: Array, y: Array) => bind1(lax.remP, [x, y]),
  floor: (x: Array) => bind1(lax.floorP, [x]),
  ceil: (x: Array) => bind1(lax.ceilP, [x]),
  round: (x: Array) => bind1(lax.roundP, [x]),
  sqrt: (x: Array) => bind1(lax.sqrtP, [x]),
  isFinite: (x: Array) => bind1(lax.isFiniteP, [x]),
};
import { asArray, broadcastTo, prepare } from './convert.js';
import { abs, add, divide, isnan, logicalAnd, logicalNot, logicalOr, multiply, subtract, where } from './math.js';
import { all, argmax, argmin, argsort, cumsum, max, mean, min, prod, sort, sum } from './reductions.js';
import { concatenate, expandDims, moveaxis, ravel, reshape } from './shapes.js';
import { take, takeAlongAxis } from './indexing.js';

/** An `axis` option: one axis, several, or all (`null` or omitted). @category Statistics */
export type Axis = number | number[] | null;
const reduceOpts = { axis: codecs.axis, keepdims: codecs.boolean };
const toFloat = (x: Array) => (isFloat(x.dtype) ? x : P.cast(x, 'float32'));
/** `x` with NaN replaced by `v` (integers have none). */
const fillNan = (x: Array, v: number) => (isFloat(x.dtype) ? P.select(P.ne(x, x), P.fullLike(x, v), x) : x);

// ---------------------------------------------------------------- nan-reductions

/** Sum ignoring NaN. @category Statistics */
export const nansum = (x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array =>
  sum(fillNan(asArray(x), 0), opts);
/** Product ignoring NaN. @category Statistics */
export const nanprod = (x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array =>
  prod(fillNan(asArray(x), 1), opts);
/** Maximum ignoring NaN (NaN where every element is NaN). @category Statistics */
export function nanmax(x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array {
  const a = asArray(x);
  const m = max(fillNan(a, -Infinity), opts);
  return isFloat(a.dtype) ? where(all(isnan(a), opts), NaN, m) : m;
}
/** Minimum ignoring NaN. @category Statistics */
export function nanmin(x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array {
  const a = asArray(x);
  const m = min(fillNan(a, Infinity), opts);
  return isFloat(a.dtype) ? where(all(isnan(a), opts), NaN, m) : m;
}
/** The number of non-NaN elements over `axis`, as the mean's dtype. */
const notNanCount = (a: Array, opts?: { axis?: Axis; keepdims?: boolean }) =>
  sum(P.cast(logicalNot(isnan(a)), a.dtype), opts);
/** Mean ignoring NaN. @category Statistics */
export function nanmean(x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array {
  const a = toFloat(asArray(x));
  return divide(nansum(a, opts), notNanCount(a, opts));
}
/** Variance ignoring NaN (`ddof` as `var`). @category Statistics */
export function nanvar(x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean; ddof?: number }): Array {
  const o = checkOptions('nanvar', { ...reduceOpts, ddof: codecs.number }, opts);
  const a = toFloat(asArray(x));
  const axes = normAxes('nanvar', o.axis, a.ndim);
  const m = nanmean(a, { axis: axes, keepdims: true });
  const d = subtract(a, m);
  // Missing values are the input's NaNs only: inf − inf deviations stay NaN, as in NumPy.
  const ss = sum(where(isnan(a), 0, multiply(d, d)), { axis: axes, keepdims: o.keepdims });
  const n = notNanCount(a, { axis: axes, keepdims: o.keepdims });
  return divide(ss, P.max(P.sub(n, P.fullLike(n, o.ddof ?? 0)), P.zerosLike(n)));
}
/** Standard deviation ignoring NaN. @category Statistics */
export const nanstd = (x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean; ddof?: number }): Array =>
  P.sqrt(nanvar(x, opts));
/** `arg` of `x` with NaN replaced by `fill`; -1 for a slice of NaNs only (JAX; NumPy raises, which a jitted function cannot). */
function nanArg(arg: typeof argmax, x: ArrayLike, fill: number, opts?: { axis?: number | null; keepdims?: boolean }) {
  const a = asArray(x);
  const i = arg(fillNan(a, fill), opts);
  if (!isFloat(a.dtype)) return i;
  const allNan = all(isnan(a), { axis: opts?.axis ?? null, keepdims: opts?.keepdims });
  return where(allNan, -1, i);
}
/** Index of the maximum ignoring NaN (-1 for an all-NaN slice, as JAX). @category Statistics */
export const nanargmax = (x: ArrayLike, opts?: { axis?: number | null; keepdims?: boolean }): Array =>
  nanArg(argmax, x, -Infinity, opts);
/** Index of the minimum ignoring NaN (-1 for an all-NaN slice). @category Statistics */
export const nanargmin = (x: ArrayLike, opts?: { axis?: number | null; keepdims?: boolean }): Array =>
  nanArg(argmin, x, Infinity, opts);
/** Cumulative sum treating NaN as 0. @category Statistics */
export const nancumsum = (x: ArrayLike, opts?: { axis?: number }): Array => cumsum(fillNan(asArray(x), 0), opts);
/** Cumulative product treating NaN as 1. @category Statistics */
export const nancumprod = (x: ArrayLike, opts?: { axis?: number }): Array => cumprod(fillNan(asArray(x), 1), opts);

// ---------------------------------------------------------------- cumulative and differences

/**
 * Cumulative product along `axis` (flattened when omitted), by doubling steps like `cumsum`.
 * @example np.cumprod([1, 2, 3]) // [1, 2, 6]
 * @category Statistics
 */
export function cumprod(x: ArrayLike, opts?: { axis?: number }): Array {
  const o = checkOptions('cumprod', { axis: t.number }, opts);
  let a = asArray(x);
  if (o.axis === undefined) a = P.reshape(a, [a.size]);
  const axis = normAxis('cumprod', o.axis ?? 0, a.ndim);
  let y = P.cast(a, a.dtype === 'bool' ? 'int32' : a.dtype);
  const zero = a.shape.map(() => 0);
  for (let k = 1; k < a.shape[axis]; k *= 2) {
    const back = P.pad(
      y,
      zero.map((_, i) => (i === axis ? k : 0)),
      zero.map((_, i) => (i === axis ? -k : 0)),
      zero,
      1,
    );
    y = P.mul(y, back);
  }
  return y;
}

/**
 * The `n`-th discrete difference along `axis` (default last), after `prepend`/`append`.
 * @example np.diff([1, 4, 9]) // [3, 5]
 * @category Statistics
 */
export function diff(
  x: ArrayLike,
  opts?: { n?: number; axis?: number; prepend?: ArrayLike; append?: ArrayLike },
): Array {
  const o = checkOptions(
    'diff',
    { n: codecs.number, axis: codecs.number, prepend: codecs.any, append: codecs.any },
    opts,
  );
  let a = asArray(x);
  const n = o.n ?? 1;
  if (!Number.isInteger(n) || n < 0) throw new ValueError(`diff: order n must be a non-negative integer, got ${n}`);
  if (n === 0) return a;
  if (a.ndim === 0) throw new ShapeError('diff: needs at least one axis, got a 0-d array');
  const axis = normAxis('diff', o.axis ?? -1, a.ndim);
  const edge = (v: ArrayLike) => {
    const e = asArray(v);
    const shape = a.shape.map((d, i) => (i === axis ? (e.ndim === 0 ? 1 : e.shape[i]) : d));
    return broadcastTo(e, shape, 'diff');
  };
  if (o.prepend !== undefined || o.append !== undefined)
    a = concatenate(
      [
        ...(o.prepend !== undefined ? [edge(o.prepend as ArrayLike)] : []),
        a,
        ...(o.append !== undefined ? [edge(o.append as ArrayLike)] : []),
      ],
      { axis },
    );
  if (a.dtype === 'bool') a = P.cast(a, 'int32');
  for (let k = 0; k < n; k++) {
    const len = a.shape[axis];
    if (len === 0) break;
    const start = a.shape.map(() => 0);
    const hi = (from: number, to: number) =>
      P.slice(
        a,
        start.map((_, i) => (i === axis ? from : 0)),
        a.shape.map((d, i) => (i === axis ? to : d)),
      );
    a = P.sub(hi(1, len), hi(0, len - 1));
  }
  return a;
}
/** Differences of the flattened array, with optional values before and after. @category Statistics */
export function ediff1d(x: ArrayLike, opts?: { toEnd?: ArrayLike; toBegin?: ArrayLike }): Array {
  const o = checkOptions('ediff1d', { toEnd: codecs.any, toBegin: codecs.any }, opts);
  const d = diff(ravel(x));
  const parts = [
    ...(o.toBegin !== undefined ? [ravel(asArray(o.toBegin as ArrayLike, d.dtype))] : []),
    d,
    ...(o.toEnd !== undefined ? [ravel(asArray(o.toEnd as ArrayLike, d.dtype))] : []),
  ];
  return parts.length === 1 ? d : concatenate(parts);
}

// ---------------------------------------------------------------- order statistics

/**
 * Quantiles `q` (in [0, 1]) over `axis` with NumPy's default linear interpolation (method 7);
 * the result has `q`'s shape in front of the reduced shape.
 * @example np.quantile([1, 2, 3, 4], 0.5) // 2.5
 * @category Statistics
 */
export function quantile(
  x: ArrayLike,
  q: ArrayLike,
  opts?: { axis?: Axis; keepdims?: boolean; method?: 'linear' | 'lower' | 'higher' | 'nearest' | 'midpoint' },
): Array {
  const o = checkOptions(
    'quantile',
    {
      ...reduceOpts,
      method: t.keyof({ linear: null, lower: null, higher: null, nearest: null, midpoint: null }),
    },
    opts,
  );
  const a = toFloat(asArray(x));
  const qa = typeof q === 'number' ? asArray(q, a.dtype) : toFloat(asArray(q));
  const qv = qa.toConcrete();
  if (qv && globalThis.Array.from(qv.buffer).some((v) => !(v >= 0 && v <= 1)))
    throw new ValueError('quantile: q must lie in [0, 1]');
  const axes = normAxes('quantile', o.axis, a.ndim);
  // The reduced axes moved last and flattened, then sorted.
  const kept = a.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const n = axes.reduce((s, i) => s * a.shape[i], 1);
  if (n === 0) throw new ValueError(`quantile: cannot take a quantile over an empty axis of ${fmtShape(a.shape)}`);
  const moved = P.reshape(P.transpose(a, [...kept, ...axes]), [...kept.map((i) => a.shape[i]), n]);
  const sorted = sort(moved, { axis: -1 });
  const pos = multiply(P.cast(qa, a.dtype), n - 1);
  const lo = P.floor(pos),
    hi = P.ceil(pos);
  const at = (idx: Array) => {
    const flatIdx = P.reshape(P.cast(idx, 'int32'), [qa.size]);
    const picked = take(sorted, flatIdx, { axis: -1 }); // [...kept, q.size]
    return P.reshape(moveaxis(picked, -1, 0), [...qa.shape, ...picked.shape.slice(0, -1)]);
  };
  const [vlo, vhi] = [at(lo), at(hi)];
  const frac = P.sub(pos, lo);
  const bcast = (v: Array) => broadcastTo(P.reshape(v, [...qa.shape, ...kept.map(() => 1)]), vlo.shape);
  const method = o.method ?? 'linear';
  let r: Array;
  if (method === 'lower') r = vlo;
  else if (method === 'higher') r = vhi;
  else if (method === 'midpoint') r = multiply(add(vlo, vhi), 0.5);
  else if (method === 'nearest') r = at(P.round(pos));
  else r = where(P.eq(vlo, vhi), vlo, add(vlo, multiply(bcast(frac), subtract(vhi, vlo))));
  // A NaN anywhere in a slice makes its quantiles NaN, as in NumPy (sort puts NaNs last).
  const lastSorted = take(sorted, n - 1, { axis: -1 });
  r = where(broadcastTo(isnan(lastSorted), r.shape), NaN, r);
  if (!o.keepdims) return r;
  return P.reshape(r, [...qa.shape, ...a.shape.map((d, i) => (axes.includes(i) ? 1 : d))]);
}
/** Percentiles `q` (in [0, 100]). @category Statistics */
export const percentile = (
  x: ArrayLike,
  q: ArrayLike,
  opts?: { axis?: Axis; keepdims?: boolean; method?: 'linear' | 'lower' | 'higher' | 'nearest' | 'midpoint' },
): Array => quantile(x, divide(q, 100), opts);
/** The median over `axis`. @category Statistics */
export const median = (x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array => quantile(x, 0.5, opts);
/** The median ignoring NaN (NaN sorts last; the count of non-NaN elements picks the middle). @category Statistics */
export function nanmedian(x: ArrayLike, opts?: { axis?: number; keepdims?: boolean }): Array {
  const o = checkOptions('nanmedian', { axis: codecs.number, keepdims: codecs.boolean }, opts);
  let a = toFloat(asArray(x));
  if (o.axis === undefined) a = ravel(a);
  const axis = o.axis === undefined ? 0 : normAxis('nanmedian', o.axis, a.ndim);
  const sorted = sort(a, { axis });
  const count = sum(P.cast(logicalNot(isnan(a)), 'int32'), { axis, keepdims: true });
  const lo = P.div(P.sub(count, P.fullLike(count, 1)), P.fullLike(count, 2));
  const hi = P.div(count, P.fullLike(count, 2));
  const safe = (i: Array) => P.max(i, P.zerosLike(i));
  const m = multiply(add(takeAlongAxis(sorted, safe(lo), axis), takeAlongAxis(sorted, safe(hi), axis)), 0.5);
  const r = where(P.eq(count, P.zerosLike(count)), NaN, m);
  return o.keepdims
    ? r
    : P.reshape(
        r,
        r.shape.filter((_, i) => i !== axis),
      );
}

/** Weighted mean over `axis` (`weights` broadcast along it or of the full shape). @category Statistics */
export function average(x: ArrayLike, opts?: { axis?: Axis; weights?: ArrayLike; keepdims?: boolean }): Array {
  const o = checkOptions('average', { ...reduceOpts, weights: codecs.any }, opts);
  const a = toFloat(asArray(x));
  if (o.weights === undefined) return mean(a, { axis: o.axis, keepdims: o.keepdims });
  let w = P.cast(asArray(o.weights as ArrayLike), a.dtype);
  if (w.ndim !== a.ndim) {
    if (w.ndim !== 1 || typeof o.axis !== 'number')
      throw new ShapeError(
        `average: weights ${fmtShape(w.shape)} need the shape of a ${fmtShape(a.shape)} or one axis`,
      );
    const axis = normAxis('average', o.axis, a.ndim);
    w = P.reshape(
      w,
      a.shape.map((d, i) => (i === axis ? w.shape[0] : 1)),
    );
  }
  const r = { axis: o.axis, keepdims: o.keepdims };
  return divide(sum(multiply(a, w), r), sum(broadcastTo(w, a.shape, 'average'), r));
}
/** Peak to peak: `max − min` over `axis`. @category Statistics */
export const ptp = (x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array =>
  subtract(max(x, opts), min(x, opts));
/** The number of non-zero elements over `axis`. @category Statistics */
export const countNonzero = (x: ArrayLike, opts?: { axis?: Axis; keepdims?: boolean }): Array => {
  const a = asArray(x);
  return sum(P.cast(P.ne(a, P.zerosLike(a)), 'int32'), opts);
};

/**
 * The covariance matrix of the variables in `m`'s rows (columns with `rowvar: false`), normalised
 * by `n − 1` (by `n` with `bias`, or `n − ddof`).
 * @category Statistics
 */
export function cov(m: ArrayLike, opts?: { rowvar?: boolean; bias?: boolean; ddof?: number }): Array {
  const o = checkOptions('cov', { rowvar: codecs.boolean, bias: codecs.boolean, ddof: codecs.number }, opts);
  let a = toFloat(asArray(m));
  if (a.ndim > 2) throw new ShapeError(`cov: expects a 1-D or 2-D array, got ${fmtShape(a.shape)}`);
  if (a.ndim < 2) a = P.reshape(a, [1, a.size]);
  if (o.rowvar === false) a = P.transpose(a, [1, 0]);
  const n = a.shape[1];
  const centered = subtract(a, mean(a, { axis: 1, keepdims: true }));
  const ddof = o.ddof ?? (o.bias ? 0 : 1);
  const c = divide(P.dotGeneral(centered, centered, { contract: [[1], [1]], batch: [[], []] }), n - ddof);
  return asArray(m).ndim < 2 || c.shape[0] === 1 ? P.reshape(c, []) : c;
}
/** Pearson correlation coefficients of `m`'s rows (columns with `rowvar: false`), clipped to [-1, 1]. @category Statistics */
export function corrcoef(m: ArrayLike, opts?: { rowvar?: boolean }): Array {
  const c = cov(m, opts);
  if (c.ndim === 0) return divide(c, c);
  const d = P.sqrt(P.reduceSum(P.mul(c, P.eyeOf(c.shape, c.dtype)), [1]));
  const r = divide(divide(c, expandDims(d, 1)), expandDims(d, 0));
  return P.max(P.min(r, P.fullLike(r, 1)), P.fullLike(r, -1));
}

// ---------------------------------------------------------------- comparing whole arrays

/**
 * `|a − b| <= atol + rtol · |b|` elementwise (infinities equal when equal; NaN equal with `equalNan`).
 * @category Logic
 */
export function isclose(
  a: ArrayLike,
  b: ArrayLike,
  opts?: { rtol?: number; atol?: number; equalNan?: boolean },
): Array {
  const o = checkOptions('isclose', { rtol: codecs.number, atol: codecs.number, equalNan: codecs.boolean }, opts);
  const [x, y] = prepare('isclose', [a, b]);
  if (!isFloat(x.dtype)) return P.eq(x, y);
  const close = P.le(abs(P.sub(x, y)), add(o.atol ?? 1e-8, multiply(o.rtol ?? 1e-5, abs(y))));
  const same = P.eq(x, y); // infinities of one sign
  const finite = logicalAnd(P.isFinite(x), P.isFinite(y));
  let r = logicalOr(same, logicalAnd(finite, close));
  if (o.equalNan) r = logicalOr(r, logicalAnd(isnan(x), isnan(y)));
  return r;
}
/** Are all elements close ({@link isclose})? @category Logic */
export const allclose = (a: ArrayLike, b: ArrayLike, opts?: { rtol?: number; atol?: number; equalNan?: boolean }) =>
  all(isclose(a, b, opts));
/** Equal shapes and equal elements (NaN equal with `equalNan`). @category Logic */
export function arrayEqual(a: ArrayLike, b: ArrayLike, opts?: { equalNan?: boolean }): Array {
  const o = checkOptions('arrayEqual', { equalNan: codecs.boolean }, opts);
  const [x, y] = [asArray(a), asArray(b)];
  if (x.ndim !== y.ndim || x.shape.some((d, i) => d !== y.shape[i])) return asArray(false);
  const [px, py] = prepare('arrayEqual', [x, y]);
  const eq = P.eq(px, py);
  return all(o.equalNan ? logicalOr(eq, logicalAnd(isnan(x), isnan(y))) : eq);
}
/** Equal after broadcasting. @category Logic */
export function arrayEquiv(a: ArrayLike, b: ArrayLike): Array {
  try {
    const [px, py] = prepare('arrayEquiv', [a, b]);
    return all(P.eq(px, py));
  } catch (e) {
    if (e instanceof ShapeError) return asArray(false);
    throw e;
  }
}

// ---------------------------------------------------------------- searching and counting

/**
 * Insertion indices of `v` into the sorted 1-D `a` (`side` 'left': first such index, 'right': last).
 * @example np.searchsorted([1, 2, 3], 2) // 1
 * @category Searching
 */
export function searchsorted(a: ArrayLike, v: ArrayLike, opts?: { side?: 'left' | 'right' }): Array {
  const o = checkOptions('searchsorted', { side: t.keyof({ left: null, right: null }) }, opts);
  const sorted = asArray(a);
  if (sorted.ndim !== 1) throw new ShapeError(`searchsorted: a must be 1-D, got ${fmtShape(sorted.shape)}`);
  const [s, vals] = prepare('searchsorted', [sorted, expandDims(v, -1)]);
  // Count the elements before each value (NaN sorts last, as in sort).
  const key = (x: Array) => (isFloat(x.dtype) ? P.select(P.ne(x, x), P.fullLike(x, Infinity), x) : x);
  const [ks, kv] = [key(s), key(vals)];
  const [nanV, nanS] = [P.ne(vals, vals), P.ne(s, s)];
  let before = o.side === 'right' ? P.le(ks, kv) : P.lt(ks, kv);
  // A NaN value goes after every number and (left) before other NaNs, (right) after them.
  before = P.select(nanV, o.side === 'right' ? P.eq(ks, ks) : logicalNot(nanS), P.select(nanS, P.ne(ks, ks), before));
  return sum(P.cast(before, 'int32'), { axis: -1 });
}
/**
 * The index of the bin each `x` falls in, for increasing `bins` (`right`: bins include their right edge).
 * @category Searching
 */
export function digitize(x: ArrayLike, bins: ArrayLike, opts?: { right?: boolean }): Array {
  const o = checkOptions('digitize', { right: codecs.boolean }, opts);
  return searchsorted(bins, x, { side: o.right ? 'left' : 'right' });
}

/** A static count needed by a data-dependent shape: given, or computed from concrete values. */
function staticCount(op: string, given: number | undefined, what: string, compute: () => Array): number {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 0)
      throw new ValueError(`${op}: ${what} must be a non-negative integer, got ${given}`);
    return given;
  }
  const c = compute().toConcrete();
  if (!c)
    throw new TraceError(
      `${op}: the output's shape depends on the values; under jit/vmap/grad pass a static ${what} (as JAX's ${what})`,
    );
  return c.buffer[0] as number;
}

/**
 * Counts of each non-negative integer in `x` (weighted by `weights`), `length` bins (at least
 * `max(x) + 1`; required under jit). Values past `length` are dropped.
 * @example np.bincount([0, 1, 1, 3]) // [1, 2, 0, 1]
 * @category Statistics
 */
export function bincount(x: ArrayLike, opts?: { weights?: ArrayLike; length?: number; minlength?: number }): Array {
  const o = checkOptions('bincount', { weights: codecs.any, length: codecs.number, minlength: codecs.number }, opts);
  const a = asArray(x);
  if (a.ndim !== 1 || isFloat(a.dtype))
    throw new ShapeError(`bincount: expects a 1-D integer array, got ${a.dtype}${fmtShape(a.shape)}`);
  const length = Math.max(
    o.minlength ?? 0,
    staticCount('bincount', o.length, 'length', () => (a.size ? add(max(a), 1) : asArray(0))),
  );
  const w = o.weights === undefined ? P.fullLike(P.cast(a, 'int32'), 1) : asArray(o.weights as ArrayLike);
  const idx = P.cast(a, 'int32');
  // Out-of-range (and negative) values go to an extra bin that is dropped.
  const inRange = logicalAnd(P.le(P.zerosLike(idx), idx), P.lt(idx, P.fullLike(idx, length)));
  const slot = P.select(inRange, idx, P.fullLike(idx, length));
  const counts = P.scatterAdd(P.zerosLike({ shape: [length + 1], dtype: w.dtype }), slot, w, 0);
  return P.slice(counts, [0], [length]);
}

/**
 * A histogram of `a`: `[counts, edges]` over `bins` equal bins of `range` (default: the data's
 * min and max; required under jit) or the given increasing edges; `density` normalises to a PDF.
 * @category Statistics
 */
export function histogram(
  a: ArrayLike,
  opts?: { bins?: number | ArrayLike; range?: [number, number]; weights?: ArrayLike; density?: boolean },
): [Array, Array] {
  const o = checkOptions(
    'histogram',
    { bins: codecs.any, range: t.tuple([t.number, t.number]), weights: codecs.any, density: codecs.boolean },
    opts,
  );
  const x = ravel(toFloat(asArray(a)));
  let edges: Array;
  const bins = o.bins ?? 10;
  if (typeof bins === 'number') {
    if (!Number.isInteger(bins) || bins < 1)
      throw new ValueError(`histogram: bins must be a positive integer, got ${bins}`);
    let [lo, hi] = o.range ?? [
      staticCount('histogram', undefined, 'range', () => (x.size ? min(x) : asArray(0))),
      staticCount('histogram', undefined, 'range', () => (x.size ? max(x) : asArray(1))),
    ];
    if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
    edges = add(lo, multiply((hi - lo) / bins, P.cast(P.iota([bins + 1], 'int32', 0), x.dtype)));
  } else edges = toFloat(asArray(bins as ArrayLike));
  const nb = edges.shape[0] - 1;
  // The bin of each value: the last edge at or below it, with the last bin closed on the right.
  let idx = P.sub(searchsorted(edges, x, { side: 'right' }), P.fullLike(P.cast(x, 'int32'), 1));
  const top = take(edges, nb);
  idx = P.select(P.eq(x, broadcastTo(top, x.shape)), P.fullLike(idx, nb - 1), idx);
  const inside = logicalAnd(P.le(P.zerosLike(idx), idx), P.lt(idx, P.fullLike(idx, nb)));
  // Counts are int32 without weights (as JAX), in the weights' dtype with them.
  const w =
    o.weights === undefined
      ? P.fullLike({ shape: x.shape, dtype: o.density ? x.dtype : 'int32' }, 1)
      : ravel(P.cast(asArray(o.weights as ArrayLike), x.dtype));
  const slot = P.select(inside, idx, P.fullLike(idx, nb));
  let counts = P.slice(
    P.scatterAdd(P.zerosLike({ shape: [nb + 1], dtype: w.dtype }), slot, P.mul(w, P.cast(inside, w.dtype)), 0),
    [0],
    [nb],
  );
  if (o.density) {
    const widths = diff(edges);
    counts = divide(counts, multiply(sum(counts), widths));
  }
  return [counts, edges];
}

/**
 * Piecewise-linear interpolation of the points `(xp, fp)` (xp increasing) at `x`; `left`/`right`
 * outside (default: the end values).
 * @example np.interp(1.5, [1, 2], [10, 20]) // 15
 * @category Math
 */
export function interp(x: ArrayLike, xp: ArrayLike, fp: ArrayLike, opts?: { left?: number; right?: number }): Array {
  const o = checkOptions('interp', { left: codecs.number, right: codecs.number }, opts);
  const xs = toFloat(asArray(x));
  const [xpa, fpa] = [P.cast(toFloat(asArray(xp)), xs.dtype), P.cast(toFloat(asArray(fp)), xs.dtype)];
  if (xpa.ndim !== 1 || fpa.ndim !== 1 || xpa.shape[0] !== fpa.shape[0] || xpa.shape[0] === 0)
    throw new ShapeError(`interp: xp ${fmtShape(xpa.shape)} and fp ${fmtShape(fpa.shape)} must be equal non-empty 1-D`);
  const n = xpa.shape[0];
  const i = P.min(
    P.max(
      P.sub(searchsorted(xpa, xs, { side: 'right' }), P.fullLike(P.cast(xs, 'int32'), 1)),
      P.zerosLike(P.cast(xs, 'int32')),
    ),
    P.fullLike(P.cast(xs, 'int32'), Math.max(0, n - 2)),
  );
  const j = P.min(P.add(i, P.fullLike(i, 1)), P.fullLike(i, n - 1));
  const [x0, x1, f0, f1] = [take(xpa, i), take(xpa, j), take(fpa, i), take(fpa, j)];
  const span = P.sub(x1, x0);
  const zero = P.eq(span, P.zerosLike(span));
  const tfrac = P.div(P.sub(xs, x0), P.select(zero, P.fullLike(span, 1), span));
  let y = P.select(zero, f0, P.add(f0, P.mul(tfrac, P.sub(f1, f0))));
  y = where(P.lt(xs, broadcastTo(take(xpa, 0), xs.shape)), o.left ?? take(fpa, 0), y);
  return where(P.gt(xs, broadcastTo(take(xpa, n - 1), xs.shape)), o.right ?? take(fpa, n - 1), y);
}

/**
 * Discrete linear convolution of 1-D arrays, `mode` 'full' (default), 'same' or 'valid'.
 * @example np.convolve([1, 2, 3], [0, 1, 0.5]) // [0, 1, 2.5, 4, 1.5]
 * @category Math
 */
export function convolve(a: ArrayLike, v: ArrayLike, opts?: { mode?: 'full' | 'same' | 'valid' }): Array {
  const o = checkOptions('convolve', { mode: t.keyof({ full: null, same: null, valid: null }) }, opts);
  const [x, y] = [asArray(a), asArray(v)];
  return correlateFull('convolve', x, y, promote([x.dtype, y.dtype]), true, o.mode ?? 'full');
}
/** Cross-correlation of 1-D arrays, `mode` 'valid' (default), 'same' or 'full'. @category Math */
export function correlate(a: ArrayLike, v: ArrayLike, opts?: { mode?: 'full' | 'same' | 'valid' }): Array {
  const o = checkOptions('correlate', { mode: t.keyof({ full: null, same: null, valid: null }) }, opts);
  const [x, y] = [asArray(a), asArray(v)];
  return correlateFull('correlate', x, y, promote([x.dtype, y.dtype]), false, o.mode ?? 'valid');
}
function correlateFull(op: string, a0: Array, v0: Array, dtype: DType, flip: boolean, mode: string): Array {
  if (a0.ndim !== 1 || v0.ndim !== 1 || a0.size === 0 || v0.size === 0)
    throw new ShapeError(`${op}: expects non-empty 1-D arrays, got ${fmtShape(a0.shape)} and ${fmtShape(v0.shape)}`);
  const d = dtype === 'bool' ? 'int32' : dtype;
  const [a, v] = [P.cast(a0, d), P.cast(v0, d)];
  const [n, m] = [a.size, v.size];
  // Full output k (0 ≤ k < n + m − 1) sums a[i] · v[j] over pairs with i − j = k − (m − 1) (correlate)
  // or i + j = k (convolve): a gather of a static index table, masked, then a sum.
  const len = n + m - 1;
  const idx = new Int32Array(len * m),
    mask = new Float64Array(len * m);
  for (let k = 0; k < len; k++)
    for (let j = 0; j < m; j++) {
      const i = flip ? k - j : k - (m - 1) + j;
      idx[k * m + j] = Math.min(Math.max(i, 0), n - 1);
      mask[k * m + j] = i >= 0 && i < n ? 1 : 0;
    }
  const gathered = P.gather(a, reshape(asArray(idx), [len, m]), 0);
  const w = P.mul(broadcastTo(P.reshape(v, [1, m]), [len, m]), P.cast(reshape(asArray(mask), [len, m]), d));
  const full = P.reduceSum(P.mul(gathered, w), [1]);
  // 'same' centres the window as NumPy does: it correlates the longer input with the shorter and
  // reverses the result when it swapped them, which moves the odd sample to the other side.
  const half = (Math.min(n, m) - 1) / 2;
  const [start, size] =
    mode === 'full'
      ? [0, len]
      : mode === 'same'
        ? [!flip && n < m ? Math.ceil(half) : Math.floor(half), Math.max(n, m)]
        : [Math.min(n, m) - 1, Math.abs(n - m) + 1];
  return P.slice(full, [start], [start + size]);
}

/**
 * The sorted unique values of `x` (flattened). `size` fixes the output length (padded with
 * `fillValue`, default the smallest value; required under jit); eager calls compute it.
 * @example np.unique([3, 1, 3, 2]) // [1, 2, 3]
 * @category Searching
 */
export function unique(x: ArrayLike, opts?: { size?: number; fillValue?: number }): Array {
  const o = checkOptions('unique', { size: codecs.number, fillValue: codecs.number }, opts);
  const flat = ravel(x);
  const sorted = sort(flat);
  const n = flat.size;
  if (n === 0) return flat;
  const prevDiffers = P.ne(P.slice(sorted, [1], [n]), P.slice(sorted, [0], [n - 1]));
  // NaNs are all distinct from each other in ne; count the first NaN only (NumPy ≥ 1.21 collapses them).
  const bothNan = isFloat(sorted.dtype)
    ? logicalAnd(isnan(P.slice(sorted, [1], [n])), isnan(P.slice(sorted, [0], [n - 1])))
    : P.ne(prevDiffers, prevDiffers);
  const isNew = concatenate([asArray([true]), logicalAnd(prevDiffers, logicalNot(bothNan))]);
  const size = staticCount('unique', o.size, 'size', () => sum(P.cast(isNew, 'int32')));
  const pos = P.sub(cumsum(P.cast(isNew, 'int32')), P.fullLike(P.cast(isNew, 'int32'), 1));
  const slot = P.select(logicalAnd(isNew, P.lt(pos, P.fullLike(pos, size))), pos, P.fullLike(pos, size));
  const values = P.scatterAdd(
    P.zerosLike({ shape: [size + 1], dtype: sorted.dtype }),
    slot,
    P.select(isNew, sorted, P.zerosLike(sorted)),
    0,
  );
  const filled = P.scatterAdd(P.zerosLike({ shape: [size + 1], dtype: 'int32' }), slot, P.cast(isNew, 'int32'), 0);
  const fill = o.fillValue !== undefined ? asArray(o.fillValue, sorted.dtype) : P.slice(sorted, [0], [1]);
  return P.select(
    P.gt(P.slice(filled, [0], [size]), P.zerosLike({ shape: [size], dtype: 'int32' })),
    P.slice(values, [0], [size]),
    broadcastTo(P.reshape(fill, []), [size]),
  );
}

/**
 * The indices of non-zero elements, one array per axis. `size` fixes their length (padded with
 * `fillValue`, default 0; required under jit).
 * @category Searching
 */
export function nonzero(x: ArrayLike, opts?: { size?: number; fillValue?: number }): Array[] {
  const o = checkOptions('nonzero', { size: codecs.number, fillValue: codecs.number }, opts);
  const a = asArray(x);
  if (a.ndim === 0) throw new ShapeError('nonzero: needs at least one axis (use atleast1d)');
  const flat = flatnonzero(a, o);
  let rest = flat;
  const out: Array[] = new globalThis.Array(a.ndim);
  for (let ax = a.ndim - 1; ax >= 0; ax--) {
    const d = Math.max(1, a.shape[ax]);
    out[ax] = P.rem(rest, P.fullLike(rest, d));
    rest = P.div(rest, P.fullLike(rest, d));
  }
  if (o.fillValue !== undefined) {
    const real = P.lt(P.iota(flat.shape, 'int32', 0), P.fullLike(flat, countOf(a)));
    return out.map((v) => P.select(real, v, P.fullLike(v, o.fillValue!)));
  }
  return out;
}
const countOf = (a: Array) => (a.toConcrete() ? (countNonzero(a).toConcrete()!.buffer[0] as number) : a.size);
/** Flat indices of the non-zero elements (`size`/`fillValue` as {@link nonzero}). @category Searching */
export function flatnonzero(x: ArrayLike, opts?: { size?: number; fillValue?: number }): Array {
  const o = checkOptions('flatnonzero', { size: codecs.number, fillValue: codecs.number }, opts);
  const a = ravel(x);
  const hit = P.cast(P.ne(a, P.zerosLike(a)), 'int32');
  const size = staticCount('flatnonzero', o.size, 'size', () => sum(hit));
  const pos = P.sub(cumsum(hit), P.fullLike(hit, 1));
  const ok = logicalAnd(P.eq(hit, P.fullLike(hit, 1)), P.lt(pos, P.fullLike(pos, size)));
  const slot = P.select(ok, pos, P.fullLike(pos, size));
  const idx = P.scatterAdd(
    P.zerosLike({ shape: [size + 1], dtype: 'int32' }),
    slot,
    P.select(ok, P.iota(a.shape, 'int32', 0), P.zerosLike(hit)),
    0,
  );
  const got = P.scatterAdd(P.zerosLike({ shape: [size + 1], dtype: 'int32' }), slot, P.cast(ok, 'int32'), 0);
  const r = P.slice(idx, [0], [size]);
  return P.select(P.gt(P.slice(got, [0], [size]), P.zerosLike(r)), r, P.fullLike(r, o.fillValue ?? 0));
}
/** Indices of non-zero elements as rows `[count, ndim]` (`size` as {@link nonzero}). @category Searching */
export function argwhere(x: ArrayLike, opts?: { size?: number; fillValue?: number }): Array {
  const a = asArray(x);
  const cols = nonzero(a.ndim === 0 ? P.reshape(a, [1]) : a, opts);
  const stacked = concatenate(
    cols.map((c) => expandDims(c, 1)),
    { axis: 1 },
  );
  return a.ndim === 0 ? P.slice(stacked, [0, 0], [stacked.shape[0], 0]) : stacked;
}
/** Is each element of `element` in `testElements`? @category Searching */
export function isin(element: ArrayLike, testElements: ArrayLike, opts?: { invert?: boolean }): Array {
  const o = checkOptions('isin', { invert: codecs.boolean }, opts);
  const e = asArray(element);
  const [pe, pt] = prepare('isin', [expandDims(e, -1), ravel(testElements)]);
  const r = P.reduceMax(P.eq(pe, pt), [e.ndim]);
  return o.invert ? logicalNot(r) : r;
}

/** Partitions along `axis` so the `kth` element is in its sorted place (by sorting, a valid partition). @category Searching */
export const partition = (x: ArrayLike, kth: number, opts?: { axis?: number }): Array => {
  checkKth('partition', asArray(x), kth, opts?.axis ?? -1);
  return sort(x, { axis: opts?.axis ?? -1 });
};
/** Indices that partition along `axis` (see {@link partition}). @category Searching */
export const argpartition = (x: ArrayLike, kth: number, opts?: { axis?: number }): Array => {
  checkKth('argpartition', asArray(x), kth, opts?.axis ?? -1);
  return argsortOf(x, opts?.axis ?? -1);
};
const argsortOf = (x: ArrayLike, axis: number) => argsort(x, { axis });
function checkKth(op: string, a: Array, kth: number, axis: number) {
  const ax = normAxis(op, axis, a.ndim);
  const n = a.shape[ax];
  if (!Number.isInteger(kth) || kth < -n || kth >= n)
    throw new ValueError(`${op}: kth ${kth} is out of bounds for an axis of length ${n}`);
}

/**
 * The `k` largest elements along the last axis, descending, and their indices (`lax.topK`).
 * @example const [values, indices] = np.topK(scores, 3);
 * @category Searching
 */
export const topK = (x: ArrayLike, k: number): [Array, Array] => P.topK(asArray(x), k);
