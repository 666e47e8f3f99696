/**
 * threefry2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
 * counter-based generator behind splittable keys. 20 rounds, as in JAX and Random123.
 * @module
 */
import type { Array } from '../core/array.js';
import { checkDType } from '../core/dtype.js';
import { type Primitive, definePrimitive } from '../core/primitive.js';
import { checkSameShapes } from '../core/shape.js';
import { bind } from '../core/trace.js';
import { moveBatchAxis } from './views.js';
import { build } from './util.js';

const ROTATIONS = [
  [13, 15, 26, 6],
  [17, 29, 16, 24],
];

/** One block: key (k0, k1), counter (x0, x1) -> two uint32 words. */
export function threefry2x32Block(k0: number, k1: number, x0: number, x1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  let a = (x0 + ks[0]) >>> 0;
  let b = (x1 + ks[1]) >>> 0;
  for (let i = 0; i < 5; i++) {
    for (const r of ROTATIONS[i % 2]) {
      a = (a + b) >>> 0;
      b = ((b << r) | (b >>> (32 - r))) >>> 0;
      b = (b ^ a) >>> 0;
    }
    a = (a + ks[(i + 1) % 3]) >>> 0;
    b = (b + ks[(i + 2) % 3] + i + 1) >>> 0;
  }
  return [a, b];
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
    for (let i = 0; i < n; i++) [y0[i], y1[i]] = threefry2x32Block(a[i], b[i], c[i], d[i]);
    return [build(k0.shape, 'uint32', (i) => y0[i]), build(k0.shape, 'uint32', (i) => y1[i])];
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
