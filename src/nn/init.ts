/**
 * `nn.init`: weight initialisers. Each is `(key, shape) => Array`; fans follow PyTorch
 * (`fanIn = shape[1] * prod(kernel)`, `fanOut = shape[0] * prod(kernel)`).
 * @module
 */
import type { Array } from '../core/array.js';
import { ValueError, fmtShape } from '../core/errors.js';
import {
  type Key,
  normal as randomNormal,
  truncatedNormal as randomTruncated,
  uniform as randomUniform,
} from '../random.js';
import * as np from '../np/index.js';

/** An initialiser: a key and a shape to an array. @category Initializers */
export type Initializer = (key: Key, shape: number[]) => Array;

/** Fan-in and fan-out of a weight shape (PyTorch's convention). @category Initializers */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0], fanOut: shape[0] };
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** All zeros. @category Initializers */ export const zeros: Initializer = (_, shape) => np.zeros(shape);
/** All ones. @category Initializers */ export const ones: Initializer = (_, shape) => np.ones(shape);
/** A constant. @category Initializers */ export const constant =
  (v: number): Initializer =>
  (_, shape) =>
    np.full(shape, v);
/** N(0, std^2). @category Initializers */ export const normal =
  (std = 1): Initializer =>
  (key, shape) =>
    np.multiply(randomNormal(key, shape), std);
/** U(-scale, scale). @category Initializers */ export const uniform =
  (scale = 1): Initializer =>
  (key, shape) =>
    randomUniform(key, shape, { minval: -scale, maxval: scale });

const byFan =
  (kind: 'in' | 'out' | 'avg', gain: number, dist: 'uniform' | 'normal'): Initializer =>
  (key, shape) => {
    const { fanIn, fanOut } = fans(shape);
    const fan = kind === 'in' ? fanIn : kind === 'out' ? fanOut : (fanIn + fanOut) / 2;
    const std = gain / Math.sqrt(fan);
    return dist === 'uniform' ? uniform(std * Math.sqrt(3))(key, shape) : normal(std)(key, shape);
  };
/** Glorot/Xavier uniform (Glorot & Bengio 2010): U(±sqrt(6/(fanIn+fanOut))). @category Initializers */
export const glorotUniform = (gain = 1): Initializer => byFan('avg', gain, 'uniform');
/** Glorot/Xavier normal: N(0, 2/(fanIn+fanOut)). @category Initializers */
export const glorotNormal = (gain = 1): Initializer => byFan('avg', gain, 'normal');
/** He/Kaiming uniform (He et al. 2015) for ReLU: U(±sqrt(6/fanIn)). @category Initializers */
export const heUniform = (gain = Math.SQRT2): Initializer => byFan('in', gain, 'uniform');
/** He/Kaiming normal: N(0, 2/fanIn). @category Initializers */
export const heNormal = (gain = Math.SQRT2): Initializer => byFan('in', gain, 'normal');
/** LeCun uniform: U(±sqrt(3/fanIn)). @category Initializers */
export const lecunUniform = (): Initializer => byFan('in', 1, 'uniform');
/** LeCun normal: N(0, 1/fanIn). @category Initializers */
export const lecunNormal = (): Initializer => byFan('in', 1, 'normal');
/** Normal truncated to ±2 std. @category Initializers */
export const truncatedNormal =
  (std = 1): Initializer =>
  (key, shape) =>
    np.multiply(randomTruncated(key, -2, 2, shape), std);
/**
 * PyTorch's default for Linear and Conv weights and biases: U(±1/sqrt(fanIn)) of the weight.
 * @category Initializers
 */
export const torchDefault = (fanIn: number): Initializer => uniform(1 / Math.sqrt(Math.max(1, fanIn)));
/** Alias of glorotUniform. @category Initializers */
export const xavier = glorotUniform;

/**
 * A (semi-)orthogonal matrix (Saxe et al. 2014) of shape `[rows, ...rest]` flattened to 2-D,
 * by Gram-Schmidt on a Gaussian matrix.
 * @category Initializers
 */
export const orthogonal =
  (gain = 1): Initializer =>
  (key, shape) => {
    if (shape.length < 2) throw new ValueError(`orthogonal: needs at least 2 dimensions, got ${fmtShape(shape)}`);
    const rows = shape[0],
      cols = shape.slice(1).reduce((a, b) => a * b, 1);
    const [n, m] = rows < cols ? [rows, cols] : [cols, rows]; // orthonormalise the n shorter vectors of length m
    const g = randomNormal(key, [n, m]).dataSync() as Float32Array;
    const q: Float64Array[] = [];
    for (let i = 0; i < n; i++) {
      const v = Float64Array.from(g.subarray(i * m, (i + 1) * m));
      for (const u of q) {
        let d = 0;
        for (let k = 0; k < m; k++) d += u[k] * v[k];
        for (let k = 0; k < m; k++) v[k] -= d * u[k];
      }
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      q.push(v.map((x) => x / norm));
    }
    const mat = np.array(q.map((row) => globalThis.Array.from(row, (x) => x * gain)));
    return np.reshape(rows < cols ? mat : np.transpose(mat), shape);
  };
