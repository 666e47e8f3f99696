/**
 * threefry2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
 * counter-based generator behind splittable keys. 20 rounds, as in JAX and Random123.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { checkDType } from '../core/dtype.js';
import { type Primitive, definePrimitive } from '../core/primitive.js';
import { checkSameShapes } from '../core/shape.js';
import { bind } from '../core/trace.js';
import { moveBatchAxis } from './views.js';
import { threefryCountsSimd } from '../../kernels/cpu/threefry.js';

/** One block: key (k0, k1), counter (x0, x1) -> two uint32 words. */
export function threefry2x32Block(k0: number, k1: number, x0: number, x1: number): [number, number] {
  const y = new Uint32Array(2);
  threefryInto(k0, k1, x0, x1, y, y, 0, 1);
  return [y[0], y[1]];
}

/**
 * Writes the block of key (k0, k1) and counter (x0, x1) to `y0[i0]` and `y1[i1]`: five groups of four
 * rounds (rotations 13 15 26 6, then 17 29 16 24), each followed by a key injection; written out
 * in full, since this loop is most of what random initialisation costs.
 */
function threefryInto(
  k0: number,
  k1: number,
  x0: number,
  x1: number,
  y0: Uint32Array,
  y1: Uint32Array,
  i0: number,
  i1: number,
): void {
  const k2 = k0 ^ k1 ^ 0x1bd11bda;
  let a = (x0 + k0) | 0,
    b = (x1 + k1) | 0;
  a = (a + b) | 0;
  b = ((b << 13) | (b >>> 19)) ^ a;
  a = (a + b) | 0;
  b = ((b << 15) | (b >>> 17)) ^ a;
  a = (a + b) | 0;
  b = ((b << 26) | (b >>> 6)) ^ a;
  a = (a + b) | 0;
  b = ((b << 6) | (b >>> 26)) ^ a;
  a = (a + k1) | 0;
  b = (b + k2 + 1) | 0;
  a = (a + b) | 0;
  b = ((b << 17) | (b >>> 15)) ^ a;
  a = (a + b) | 0;
  b = ((b << 29) | (b >>> 3)) ^ a;
  a = (a + b) | 0;
  b = ((b << 16) | (b >>> 16)) ^ a;
  a = (a + b) | 0;
  b = ((b << 24) | (b >>> 8)) ^ a;
  a = (a + k2) | 0;
  b = (b + k0 + 2) | 0;
  a = (a + b) | 0;
  b = ((b << 13) | (b >>> 19)) ^ a;
  a = (a + b) | 0;
  b = ((b << 15) | (b >>> 17)) ^ a;
  a = (a + b) | 0;
  b = ((b << 26) | (b >>> 6)) ^ a;
  a = (a + b) | 0;
  b = ((b << 6) | (b >>> 26)) ^ a;
  a = (a + k0) | 0;
  b = (b + k1 + 3) | 0;
  a = (a + b) | 0;
  b = ((b << 17) | (b >>> 15)) ^ a;
  a = (a + b) | 0;
  b = ((b << 29) | (b >>> 3)) ^ a;
  a = (a + b) | 0;
  b = ((b << 16) | (b >>> 16)) ^ a;
  a = (a + b) | 0;
  b = ((b << 24) | (b >>> 8)) ^ a;
  a = (a + k1) | 0;
  b = (b + k2 + 4) | 0;
  a = (a + b) | 0;
  b = ((b << 13) | (b >>> 19)) ^ a;
  a = (a + b) | 0;
  b = ((b << 15) | (b >>> 17)) ^ a;
  a = (a + b) | 0;
  b = ((b << 26) | (b >>> 6)) ^ a;
  a = (a + b) | 0;
  b = ((b << 6) | (b >>> 26)) ^ a;
  a = (a + k2) | 0;
  b = (b + k0 + 5) | 0;
  y0[i0] = a;
  y1[i1] = b;
}

/**
 * JAX's random bits, in one pass: threefry2x32 of `(k0, k1)` over the counters `0 .. n-1` split
 * in halves (`x0 = i`, `x1 = half + i`, the odd one out paired with 0), results concatenated.
 * With WebAssembly SIMD where present (`simd: false` asks for the scalar loop, the reference).
 */
export function threefryCounts(k0: number, k1: number, n: number, simd = true): Uint32Array {
  const half = Math.ceil(n / 2);
  let out = simd ? threefryCountsSimd(k0, k1, n) : null;
  if (!out) {
    out = new Uint32Array(2 * half);
    for (let i = 0; i < half; i++) threefryInto(k0, k1, i, half + i < n ? half + i : 0, out, out, i, half + i);
  }
  return n % 2 ? out.subarray(0, n) : out;
}

/**
 * JAX's uniform float32 draws in `[lo, lo + span)` (both float32) from {@link threefryCounts}'
 * words in one pass: the 23 high bits under exponent 0 give a float in [1, 2), minus 1 exactly,
 * then scaled and shifted with one rounding each, at least `lo`, as the decomposition computes.
 */
export function uniformCounts(k0: number, k1: number, n: number, lo: number, span: number, simd = true): Float32Array {
  let out = simd ? threefryCountsSimd(k0, k1, n, [lo, span]) : null;
  if (!out) {
    const words = threefryCounts(k0, k1, n, false);
    out = new Float32Array(words.buffer, words.byteOffset, words.length); // in place
    for (let i = 0; i < words.length; i++) {
      const v = Math.fround(Math.fround((words[i] >>> 9) * 2 ** -23 * span) + lo);
      out[i] = v > lo || Number.isNaN(v) ? v : lo;
    }
  }
  return n % 2 ? out.subarray(0, n) : out;
}

export const threefry2x32P: Primitive = definePrimitive({
  name: 'threefry2x32',
  props: { elementwise: true, kernel: true },
  abstractEval(avals) {
    checkSameShapes(
      'threefry2x32',
      avals.map((a) => a.shape),
    );
    for (const a of avals) checkDType('threefry2x32', a.dtype, ['uint32']);
    return [avals[0], avals[0]];
  },
  impl([k0, k1, x0, x1]) {
    const [a, b, c, d] = [k0.buffer, k1.buffer, x0.buffer, x1.buffer];
    const n = a.length;
    const y0 = new Uint32Array(n),
      y1 = new Uint32Array(n);
    for (let i = 0; i < n; i++) threefryInto(a[i], b[i], c[i], d[i], y0, y1, i, i);
    return [new ConcreteArray(y0, k0.shape, 'uint32'), new ConcreteArray(y1, k0.shape, 'uint32')];
  },
  batch: (vals, dims, _, size) => [
    bind(
      threefry2x32P,
      vals.map((v, i) => moveBatchAxis(v, dims[i], 0, size)),
    ),
    [0, 0],
  ],
});

/** lax.threefry2x32: the counter-based hash behind random keys (uint32 operands of one shape). @category lax */
export const threefry2x32 = (k0: Array, k1: Array, x0: Array, x1: Array) => bind(threefry2x32P, [k0, k1, x0, x1]);
