/**
 * Splittable random keys (JAX's threefry PRNG): no global state; a key is a uint32 array of
 * shape [2]; `split` derives independent keys, and every sampler takes a key explicitly.
 * @module
 */
import { Array, type ArrayLike } from './core/array.js';
import { type DType, isFloat } from './core/dtype.js';
import { ValueError, fmtShape } from './core/errors.js';
import { checkOptions, codecs } from './core/options.js';
import { sizeOf } from './core/shape.js';
import * as P from './primitives/index.js';
import { bind1 } from './core/trace.js';
import * as np from './np/index.js';

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

/** Random uint32 bits of `shape`. @category Random */
export function bits(key: Key, shape: readonly number[] = []): Array {
  checkKey('bits', key);
  const n = sizeOf(shape);
  return P.reshape(hashCounts(key, P.iota([n], 'uint32', 0)), shape);
}

/** `num` new keys, stacked as `[num, 2]`. @example const [k1, k2] = random.split(key) @category Random */
export function split(key: Key, num = 2): Array & Iterable<Key> {
  checkKey('split', key);
  const keys = P.reshape(hashCounts(key, P.iota([num * 2], 'uint32', 0)), [num, 2]);
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

/** Uniform floats in `[minval, maxval)`. @example random.uniform(k, [3], {minval: -1, maxval: 1}) @category Random */
export function uniform(
  key: Key,
  shape: readonly number[] = [],
  opts?: FloatOpts & { minval?: ArrayLike; maxval?: ArrayLike },
): Array {
  const o = checkOptions('random.uniform', { dtype: codecs.dtype, minval: codecs.any, maxval: codecs.any }, opts);
  floatDType('uniform', o.dtype);
  // 23 random mantissa bits under exponent 0 give a float in [1, 2).
  const b = bits(key, shape);
  const mant = np.bitwiseOr(bind1(P.shiftRightLogicalP, [b, P.fullLike(b, 9)]), 0x3f800000);
  const unit = np.subtract(P.bitcast(mant, 'float32'), 1);
  const lo = np.asarray((o.minval ?? 0) as ArrayLike),
    hi = np.asarray((o.maxval ?? 1) as ArrayLike);
  return np.maximum(lo, np.add(np.multiply(unit, np.subtract(hi, lo)), lo));
}

/** Standard normal samples (inverse-erf transform of uniforms). @category Random */
export function normal(key: Key, shape: readonly number[] = [], opts?: FloatOpts): Array {
  floatDType('normal', checkOptions('random.normal', { dtype: codecs.dtype }, opts).dtype);
  const u = uniform(key, shape, { minval: -1 + 2 ** -24, maxval: 1 });
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
