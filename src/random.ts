/**
 * Splittable random keys (JAX's threefry PRNG): no global state; a key is a uint32 array of
 * shape [2]; `split` derives independent keys, and every sampler takes a key explicitly.
 * @module
 */
import { Array, type ArrayLike, ConcreteArray } from './core/array.js';
import { type DType, isFloat } from './core/dtype.js';
import { ValueError, fmtShape } from './core/errors.js';
import { checkOptions, codecs } from './core/options.js';
import { sizeOf } from './core/shape.js';
import * as P from './primitives/index.js';
import { bind1 } from './core/trace.js';
import * as np from './np/index.js';
import { composite } from './control/composite.js';

/** A PRNG key: uint32[2]. @category Random */
export type Key = Array;

function checkKey(fn: string, key: Key): void {
  if (!(key instanceof Array) || key.dtype !== 'uint32' || key.shape.length !== 1 || key.shape[0] !== 2) {
    const got = key instanceof Array ? `${key.dtype}${fmtShape(key.shape)}` : key === null ? 'null' : typeof key;
    throw new ValueError(
      `random.${fn}: expected a key (uint32 of shape (2,)), got ${got}; make one with random.key(seed)`,
    );
  }
}

/**
 * A key from an integer seed (same words as `jax.random.PRNGKey(seed)` for seeds below 2^32). @example
 * const k = random.key(0) @category Random
 */
export function key(seed: number): Key {
  if (!Number.isInteger(seed)) throw new ValueError(`random.key: seed must be an integer, got ${seed}`);
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return np.array([hi, seed >>> 0], { dtype: 'uint32' });
}

/** threefry2x32 of `key` over a counter array, as JAX's `threefry_2x32` (split in halves). */
function hashCounts(key: Key, counts: Array): Array {
  const n = counts.size;
  const padded = n % 2 ? np.concatenate([counts, np.zeros([1], { dtype: 'uint32' })]) : counts;
  const half = padded.size / 2;
  const [x0, x1] = np.split(padded, 2);
  const k0 = np.broadcastTo(P.reshape(np.slice(key, [0, 1]), []), [half]);
  const k1 = np.broadcastTo(P.reshape(np.slice(key, [1, 2]), []), [half]);
  const [y0, y1] = P.threefry2x32(k0, k1, x0, x1);
  const out = np.concatenate([y0, y1]);
  return n % 2 ? np.slice(out, [0, n]) : out;
}

/**
 * Random uint32 bits of `shape`. Eagerly, one pass over the output (the decomposition, which
 * transforms and compilers see, takes about ten). @category Random
 */
export function bits(key: Key, shape: readonly number[] = []): Array {
  checkKey('bits', key);
  const n = sizeOf(shape);
  const [y] = composite('random_bits', (k) => [P.reshape(hashCounts(k, P.iota([n], 'uint32', 0)), shape)], [key], {
    eager: ([k]) => [new ConcreteArray(P.threefryCounts(k.buffer[0], k.buffer[1], n), shape, 'uint32')],
    cacheKey: JSON.stringify(shape),
  });
  return y;
}

/** `num` new keys, stacked as `[num, 2]`. @example const [k1, k2] = random.split(key) @category Random */
export function split(key: Key, num = 2): Array & Iterable<Key> {
  checkKey('split', key);
  const keys = bits(key, [num, 2]); // JAX's split: the hash of the counters 0 .. 2 num - 1
  return Object.assign(keys, {
    *[Symbol.iterator]() {
      for (let i = 0; i < num; i++) yield np.slice(keys, i);
    },
  });
}

/** A new key from `key` and integer `data` (e.g. a step number). @category Random */
export function foldIn(key: Key, data: number): Key {
  checkKey('foldIn', key);
  return hashCounts(key, np.array([0, data >>> 0], { dtype: 'uint32' }));
}

/** The `dtype` option of float samplers. @category Random */
export type FloatOpts = { dtype?: DType };
const floatDType = (fn: string, d: DType | undefined) => {
  const dt = d ?? 'float32';
  if (!isFloat(dt)) throw new ValueError(`random.${fn}: dtype must be a float type, got ${dt}`);
  return dt;
};

/**
 * Floats in [0, 1) of `dtype`: as many random bits as its mantissa holds, times 2^-bits, exact in
 * the dtype. float32 takes the top 23 bits of each word (JAX's float32 draws), float64 52 bits of
 * two words, float16 and bfloat16 the top 10 and 7.
 */
function unitFloats(key: Key, shape: readonly number[], dtype: DType): Array {
  const shifted = (b: Array, s: number) => bind1(P.shiftRightLogicalP, [b, P.fullLike(b, s)]);
  if (dtype === 'float64') {
    const b = bits(key, [2, ...shape]);
    const [hi, lo] = [shifted(np.slice(b, 0), 12), np.slice(b, 1)];
    return np.add(np.multiply(np.astype(hi, 'float64'), 2 ** -20), np.multiply(np.astype(lo, 'float64'), 2 ** -52));
  }
  const mantissa = -Math.log2(np.finfo(dtype).eps);
  const top = np.astype(shifted(bits(key, shape), 32 - mantissa), 'float32');
  return np.astype(np.multiply(top, 2 ** -mantissa), dtype);
}

/** Uniform floats in `[minval, maxval)`. @example random.uniform(k, [3], {minval: -1, maxval: 1}) @category Random */
export function uniform(
  key: Key,
  shape: readonly number[] = [],
  opts?: FloatOpts & { minval?: ArrayLike; maxval?: ArrayLike },
): Array {
  const o = checkOptions('random.uniform', { dtype: codecs.dtype, minval: codecs.any, maxval: codecs.any }, opts);
  const dtype = floatDType('uniform', o.dtype);
  const [minval, maxval] = [o.minval ?? 0, o.maxval ?? 1];
  const sample = (k: Key) => {
    const unit = unitFloats(k, shape, dtype);
    const lo = np.astype(np.asarray(minval as ArrayLike), dtype),
      hi = np.astype(np.asarray(maxval as ArrayLike), dtype);
    return np.maximum(lo, np.add(np.multiply(unit, np.subtract(hi, lo)), lo));
  };
  if (typeof minval !== 'number' || typeof maxval !== 'number' || dtype !== 'float32') return sample(key);
  checkKey('uniform', key);
  // Scalar bounds (every initialiser's): eagerly, bits and floats in one pass.
  const [y] = composite('random_uniform', (k) => [sample(k)], [key], {
    cacheKey: [shape, minval, maxval].map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(' '),
    eager: ([k]) => {
      const [lo, hi] = [Math.fround(minval), Math.fround(maxval)];
      const out = P.uniformCounts(k.buffer[0], k.buffer[1], sizeOf(shape), lo, Math.fround(hi - lo));
      return [new ConcreteArray(out, shape, 'float32')];
    },
  });
  return y;
}

/** Standard normal samples (inverse-erf transform of uniforms). @category Random */
export function normal(key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array {
  const dtype = floatDType('normal', checkOptions('random.normal', { dtype: codecs.dtype }, opts).dtype);
  // From the float after -1 (JAX's nextafter(-1, 0)): erfinv(-1) is -infinity.
  const u = uniform(key, shape, { minval: -1 + np.finfo(dtype).eps / 2, maxval: 1, dtype });
  return np.multiply(np.erfinv(u), Math.SQRT2);
}

/** Normal samples truncated to `[lower, upper]` (inverse-CDF method). @category Random */
export function truncatedNormal(key: Key, lower: number, upper: number, shape: readonly number[] = []): Array {
  const cdf = (x: number) => 0.5 * (1 + erfScalar(x / Math.SQRT2));
  const u = uniform(key, shape, { minval: 2 * cdf(lower) - 1, maxval: 2 * cdf(upper) - 1 });
  return np.clip(np.multiply(np.erfinv(u), Math.SQRT2), lower, upper);
}
const erfScalar = (x: number) => np.erf(x).item();

/** Booleans that are true with probability `p`. @category Random */
export const bernoulli = (key: Key, p: ArrayLike = 0.5, shape: readonly number[] = []): Array =>
  np.less(uniform(key, shape), p);

/** Integers in `[minval, maxval)`. @category Random */
export function randint(
  key: Key,
  shape: readonly number[],
  minval: number,
  maxval: number,
  opts?: { dtype?: DType },
): Array {
  const o = checkOptions('random.randint', { dtype: codecs.dtype }, opts);
  if (!(maxval > minval)) throw new ValueError(`random.randint: maxval ${maxval} must exceed minval ${minval}`);
  const u = uniform(key, shape);
  return P.cast(np.floor(np.add(np.multiply(u, maxval - minval), minval)), o.dtype ?? 'int32');
}

/** A random permutation of `0..n-1` (or of the rows of an array). @category Random */
export function permutation(key: Key, x: number | Array): Array {
  const n = typeof x === 'number' ? x : x.shape[0];
  const order = np.argsort(uniform(key, [n]));
  return typeof x === 'number' ? order : np.take(x, order, { axis: 0 });
}

/** Samples class indices from unnormalised log-probabilities along `axis` (Gumbel-max). @category Random */
export function categorical(key: Key, logits: Array, opts?: { axis?: number }): Array {
  const o = checkOptions('random.categorical', { axis: codecs.number }, opts);
  const u = uniform(key, logits.shape, { minval: 1e-20, maxval: 1 });
  const gumbel = np.negative(np.log(np.negative(np.log(u))));
  return np.argmax(np.add(logits, gumbel), { axis: o.axis ?? -1 });
}

// ---------------------------------------------------------------- more distributions
// Samplers that need rejection draw a fixed number of candidates per element and keep the first
// accepted one (JAX loops until acceptance; a fixed count keeps shapes static and batches under
// vmap). With acceptance rates above 90%, every candidate is rejected with probability below
// 1e-10; the last candidate is kept then.

/** Uniforms in (0, 1): never 0, so logarithms stay finite. */
const open01 = (key: Key, shape: readonly number[], dtype: DType = 'float32') =>
  uniform(key, shape, { minval: 2 ** -24, maxval: 1, dtype });
const floatOf = (fn: string, opts: unknown) =>
  floatDType(fn, checkOptions(`random.${fn}`, { dtype: codecs.dtype }, opts).dtype);
const shaped = (fn: string, shape: readonly number[] | undefined, param: Array) => {
  const s = shape ?? param.shape;
  np.broadcastTo(param, s); // checks that the parameter broadcasts to the requested shape
  return s;
};

/** Exponential samples with rate 1 (`-log(1 − u)`). @category Random */
export const exponential = (key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array =>
  np.negative(np.log1p(np.negative(uniform(key, shape, { dtype: floatOf('exponential', opts) }))));
/** Standard Gumbel samples (`-log(-log u)`). @category Random */
export const gumbel = (key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array =>
  np.negative(np.log(np.negative(np.log(open01(key, shape, floatOf('gumbel', opts))))));
/** Standard Laplace samples. @category Random */
export function laplace(key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array {
  const u = uniform(key, shape, { minval: -1 + 2 ** -24, maxval: 1, dtype: floatOf('laplace', opts) });
  return np.multiply(np.negative(np.sign(u)), np.log1p(np.negative(np.abs(u))));
}
/** Standard logistic samples (`log(u / (1 − u))`). @category Random */
export function logistic(key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array {
  const u = open01(key, shape, floatOf('logistic', opts));
  return np.subtract(np.log(u), np.log1p(np.negative(u)));
}
/** Standard Cauchy samples. @category Random */
export const cauchy = (key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array =>
  np.tan(np.multiply(Math.PI, np.subtract(open01(key, shape, floatOf('cauchy', opts)), 0.5)));

/**
 * Gamma(a, 1) samples (Marsaglia–Tsang; `a < 1` by boosting: Gamma(a + 1) · u^(1/a)). Samples of
 * `shape` (default `a`'s shape); `a` broadcasts.
 * @example random.gamma(k, 2.5, [1000])
 * @category Random
 */
export function gamma(key: Key, a: ArrayLike, shape?: readonly number[], opts?: FloatOpts): Array {
  const dtype = floatOf('gamma', opts);
  const alpha = np.asarray(a).astype(dtype);
  const s = shaped('gamma', shape, alpha);
  const al = np.broadcastTo(alpha, s);
  const boosted = np.where(np.less(al, 1), np.add(al, 1), al);
  const d = np.subtract(boosted, 1 / 3);
  const c = np.divide(1, np.sqrt(np.multiply(9, d)));
  const ROUNDS = 12;
  const [kz, ku, kb] = split(key, 3);
  const z = normal(kz, [ROUNDS, ...s], { dtype });
  const u = open01(ku, [ROUNDS, ...s], dtype);
  const v = np.power(np.add(1, np.multiply(c, z)), 3);
  const accept = np.logicalAnd(
    np.greater(v, 0),
    np.less(
      np.log(u),
      np.add(np.multiply(0.5, np.square(z)), np.multiply(d, np.add(np.subtract(1, v), np.log(np.maximum(v, 1e-30))))),
    ),
  );
  const candidates = np.multiply(d, v);
  // The first accepted round (the last one when none is).
  const first = np.argmax(np.concatenate([accept, np.ones([1, ...s], { dtype: 'bool' })]), { axis: 0 });
  const pick = np.minimum(first, ROUNDS - 1);
  const sample = np.squeeze(np.takeAlongAxis(candidates, np.expandDims(pick, 0), 0), { axis: 0 });
  const boost = np.power(open01(kb, s, dtype), np.divide(1, al));
  return np.where(np.less(al, 1), np.multiply(sample, boost), sample);
}
/** Beta(a, b) samples, from two gammas. @category Random */
export function beta(key: Key, a: ArrayLike, b: ArrayLike, shape?: readonly number[], opts?: FloatOpts): Array {
  const [ka, kb] = split(key);
  const s = shape ?? np.broadcastArrays(np.asarray(a), np.asarray(b))[0].shape;
  const x = gamma(ka, np.broadcastTo(np.asarray(a), s), s, opts),
    y = gamma(kb, np.broadcastTo(np.asarray(b), s), s, opts);
  return np.divide(x, np.add(x, y));
}
/** Dirichlet(alpha) samples over the last axis: `[...shape, k]`. @category Random */
export function dirichlet(key: Key, alpha: ArrayLike, shape: readonly number[] = [], opts?: FloatOpts): Array {
  const al = np.asarray(alpha);
  if (al.ndim < 1) throw new ValueError(`random.dirichlet: alpha must have a last axis, got ${fmtShape(al.shape)}`);
  const s = [...shape, ...al.shape];
  const g = gamma(key, np.broadcastTo(al, s), s, opts);
  return np.divide(g, np.sum(g, { axis: -1, keepdims: true }));
}
/** Chi-squared samples with `df` degrees of freedom. @category Random */
export const chisquare = (key: Key, df: ArrayLike, shape?: readonly number[], opts?: FloatOpts): Array =>
  np.multiply(2, gamma(key, np.divide(df, 2), shape, opts));
/** Student's t samples with `df` degrees of freedom (JAX's `random.t`; also `studentT`). @category Random */
export function t(key: Key, df: ArrayLike, shape?: readonly number[], opts?: FloatOpts): Array {
  const dfa = np.asarray(df);
  const s = shape ?? dfa.shape;
  const [kn, kc] = split(key);
  return np.divide(normal(kn, s, opts), np.sqrt(np.divide(chisquare(kc, dfa, s, opts), dfa)));
}

/** log(k!) for non-negative integer-valued floats: a table below 20, Stirling's series above. */
function logFactorial(k: Array): Array {
  const table = [0];
  for (let i = 1; i < 20; i++) table.push(table[i - 1] + Math.log(i));
  const small = np.take(np.array(table, { dtype: k.dtype }), np.clip(k, 0, 19).astype('int32'));
  const n = np.maximum(np.add(k, 1), 20);
  const stirling = np.add(
    np.subtract(np.multiply(np.subtract(n, 0.5), np.log(n)), n),
    np.add(
      0.5 * Math.log(2 * Math.PI),
      np.subtract(np.divide(1, np.multiply(12, n)), np.divide(1, np.multiply(360, np.power(n, 3)))),
    ),
  );
  return np.where(np.less(k, 20), small, stirling);
}

/**
 * Poisson(lam) samples as int32: Knuth's product of uniforms for `lam < 10`, Hörmann's
 * transformed rejection (PTRS) above, as JAX.
 * @category Random
 */
export function poisson(key: Key, lam: ArrayLike, shape?: readonly number[]): Array {
  const l0 = np.asarray(lam).astype('float32');
  const s = shaped('poisson', shape, l0);
  const l = np.broadcastTo(l0, s);
  const [kk, ku, kv] = split(key, 3);
  // Knuth: the number of uniforms whose running product stays above e^-lam.
  const DRAWS = 40;
  const logs = np.cumsum(np.log(open01(kk, [DRAWS, ...s])), { axis: 0 });
  const knuth = np.sum(np.greater(logs, np.negative(np.minimum(l, 10))).astype('int32'), { axis: 0 });
  // PTRS for large lam.
  const big = np.maximum(l, 10);
  const slam = np.sqrt(big),
    loglam = np.log(big);
  const b = np.add(0.931, np.multiply(2.53, slam));
  const a = np.add(-0.059, np.multiply(0.02483, b));
  const invAlpha = np.add(1.1239, np.divide(1.1328, np.subtract(b, 3.4)));
  const vr = np.subtract(0.9277, np.divide(3.6224, np.subtract(b, 2)));
  const ROUNDS = 10;
  const U = np.subtract(open01(ku, [ROUNDS, ...s]), 0.5);
  const V = open01(kv, [ROUNDS, ...s]);
  const us = np.subtract(0.5, np.abs(U));
  const k = np.floor(np.add(np.multiply(np.add(np.divide(np.multiply(2, a), us), b), U), np.add(big, 0.43)));
  const quick = np.logicalAnd(np.greaterEqual(us, 0.07), np.lessEqual(V, vr));
  const reject = np.logicalOr(np.less(k, 0), np.logicalAnd(np.less(us, 0.013), np.greater(V, us)));
  const logS = np.log(np.divide(np.multiply(V, invAlpha), np.add(np.divide(a, np.multiply(us, us)), b)));
  const logP = np.subtract(np.add(np.negative(big), np.multiply(k, loglam)), logFactorial(np.maximum(k, 0)));
  const accept = np.logicalOr(quick, np.logicalAnd(np.logicalNot(reject), np.lessEqual(logS, logP)));
  const first = np.minimum(
    np.argmax(np.concatenate([accept, np.ones([1, ...s], { dtype: 'bool' })]), { axis: 0 }),
    ROUNDS - 1,
  );
  const ptrs = np.squeeze(np.takeAlongAxis(k, np.expandDims(first, 0), 0), { axis: 0 }).astype('int32');
  return np.where(np.less(l, 10), knuth, ptrs);
}

/**
 * Samples from `a` (an array's first axis, or `0..a-1`): `shape` of them, with replacement by
 * default, weighted by `p` if given; without replacement by the Gumbel top-k trick.
 * @example random.choice(k, 10, { shape: [3], replace: false })
 * @category Random
 */
export function choice(
  key: Key,
  a: number | Array,
  opts?: { shape?: readonly number[]; replace?: boolean; p?: ArrayLike },
): Array {
  const o = checkOptions('random.choice', { shape: codecs.shape, replace: codecs.boolean, p: codecs.any }, opts);
  const n = typeof a === 'number' ? a : a.shape[0];
  if (!Number.isInteger(n) || n < 0)
    throw new ValueError(`random.choice: a must be a non-negative integer or an array, got ${a}`);
  const shape = o.shape ?? [];
  const count = sizeOf(shape);
  const logits = o.p === undefined ? np.zeros([n]) : np.log(np.asarray(o.p as ArrayLike));
  if (logits.shape.length !== 1 || logits.shape[0] !== n)
    throw new ValueError(`random.choice: p must have shape (${n},), got ${fmtShape(logits.shape)}`);
  let idx: Array;
  if (o.replace ?? true) {
    if (n === 0 && count > 0) throw new ValueError('random.choice: cannot choose from an empty population');
    idx = categorical(key, np.broadcastTo(logits, [...shape, n]), { axis: -1 });
  } else {
    if (count > n) throw new ValueError(`random.choice: cannot take ${count} samples from ${n} without replacement`);
    const order = np.argsort(np.negative(np.add(logits, gumbel(key, [n]))));
    idx = np.reshape(np.slice(order, [0, count]), shape);
  }
  return typeof a === 'number' ? idx : np.take(a, idx, { axis: 0 });
}

/**
 * Multivariate normal samples `mean + L z` with `L` the Cholesky factor of `cov`: `[...shape, d]`.
 * @category Random
 */
export function multivariateNormal(
  key: Key,
  mean: ArrayLike,
  cov: ArrayLike,
  shape: readonly number[] = [],
  opts?: FloatOpts,
): Array {
  const m = np.asarray(mean),
    c = np.asarray(cov);
  const d = m.shape[m.ndim - 1];
  if (m.ndim < 1 || c.ndim < 2 || c.shape[c.ndim - 1] !== d || c.shape[c.ndim - 2] !== d)
    throw new ValueError(
      `random.multivariateNormal: mean ${fmtShape(m.shape)} and cov ${fmtShape(c.shape)} do not match`,
    );
  const l = np.linalg.cholesky(c);
  const z = normal(key, [...shape, d], opts);
  return np.add(m, np.squeeze(np.matmul(l, np.expandDims(z, -1)), { axis: -1 }));
}
/** Rademacher samples: -1 or 1 with equal probability. @category Random */
export const rademacher = (key: Key, shape: readonly number[] = [], opts?: { dtype?: DType }): Array =>
  np.subtract(np.multiply(bernoulli(key, 0.5, shape).astype(opts?.dtype ?? 'int32'), 2), 1);
/** Alias of {@link t}. @category Random */
export const studentT = t;
