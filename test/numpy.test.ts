// Differential test against NumPy (Debian's python3-numpy, installed by .ci/run): random and
// special-value cases of every function below run in NumPy at float64 (test/numpy/reference.py)
// and in Fluxion at float64 and float32. Values must agree to each dtype's tolerance, and an
// input NumPy refuses must be refused with a FluxionError (and vice versa).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Array, type DType, FluxionError, np } from '../src/index.js';
import { rng } from '../laws/index.js';

type Tensor = { array: number[]; shape: number[]; dtype: DType };
type Arg = Tensor | number | string | boolean | Arg[];
interface Spec {
  fn: string;
  make: (r: Gen) => { args: Arg[]; opts?: Record<string, unknown> };
  /** NumPy takes the first argument's list spread out (meshgrid). */
  spread?: boolean;
  /** Compare absolute values (sign conventions of decompositions). */
  abs?: boolean;
  /** Compare the first output only (lstsq's residuals differ by design: docs/linalg.md). */
  first?: boolean;
  /** Extra tolerance factor (ill-conditioned by nature: cond, pinv of random matrices). */
  slack?: number;
  /** The answer depends on the float dtype's range: NumPy runs in float32 for the float32 run too. */
  perDtype?: boolean;
}
interface Gen {
  u: () => number;
  int: (lo: number, hi: number) => number;
  pick: <T>(xs: readonly T[]) => T;
}

// ---------------------------------------------------------------- generators
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0];
function arr(g: Gen, shape: number[], lo = -3, hi = 3, opts: { special?: number; int?: boolean; dtype?: DType } = {}) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = globalThis.Array.from({ length: n }, () => {
    if (opts.special && g.u() < opts.special) return g.pick(SPECIALS);
    const v = lo + (hi - lo) * g.u();
    return opts.int ? Math.floor(v) : Math.fround(Math.round(v * 1000) / 1000);
  });
  return { array: data, shape, dtype: opts.dtype ?? (opts.int ? 'int32' : 'float64') } as Arg;
}
const shapeOf = (g: Gen, maxRank = 3, empty = true): number[] =>
  globalThis.Array.from({ length: g.int(0, maxRank) }, () => g.int(empty && g.u() < 0.1 ? 0 : 1, 4));
/** A shape that broadcasts with `s` (some axes 1, some dropped). */
const broadcastable = (g: Gen, s: number[]) => s.slice(g.int(0, s.length)).map((d) => (g.u() < 0.3 ? 1 : d));
const matrix = (g: Gen, n: number, m = n, batch: number[] = []) => arr(g, [...batch, n, m], -1, 1);
/** Well conditioned: a random matrix plus n·I. */
function conditioned(g: Gen, n: number, batch: number[] = []): Arg {
  const a = matrix(g, n, n, batch) as Tensor;
  for (let b = 0; b < a.array.length / (n * n); b++) for (let i = 0; i < n; i++) a.array[b * n * n + i * n + i] += n;
  return a;
}
function spd(g: Gen, n: number): Arg {
  const a = (matrix(g, n) as Tensor).array;
  const s = globalThis.Array.from({ length: n * n }, (_, k) => {
    const [i, j] = [Math.floor(k / n), k % n];
    let v = i === j ? n : 0;
    for (let t = 0; t < n; t++) v += a[i * n + t] * a[j * n + t];
    return Math.fround(v);
  });
  return { array: s, shape: [n, n], dtype: 'float64' };
}
const axisOf = (g: Gen, rank: number, list = true): unknown => {
  const k = g.int(0, 4);
  if (k === 0 || rank === 0) return undefined;
  if (k === 1) return null;
  if (k === 2 && list && rank > 1) return [0, rank - 1];
  return g.int(-rank, rank - 1);
};
const reduceOpts = (g: Gen, rank: number, list = true) => {
  const axis = axisOf(g, rank, list);
  return { ...(axis === undefined ? {} : { axis }), ...(g.u() < 0.3 ? { keepdims: true } : {}) };
};

// ---------------------------------------------------------------- the functions
const unary: [string, number, number][] = [
  ['arcsin', -1, 1],
  ['arccos', -1, 1],
  ['arctan', -5, 5],
  ['sinh', -5, 5],
  ['cosh', -5, 5],
  ['tanh', -5, 5],
  ['arcsinh', -5, 5],
  ['arccosh', 1, 5],
  ['arctanh', -0.99, 0.99],
  ['log2', 0, 5],
  ['log10', 0, 5],
  ['exp2', -5, 5],
  ['cbrt', -5, 5],
  ['trunc', -5, 5],
  ['fix', -5, 5],
  ['rint', -5, 5],
  ['signbit', -5, 5],
  ['isinf', -5, 5],
  ['isposinf', -5, 5],
  ['isneginf', -5, 5],
  ['isnan', -5, 5],
  ['isfinite', -5, 5],

  ['deg2rad', -5, 5],
  ['rad2deg', -5, 5],
  ['sinc', -3, 3],
  ['exp', -5, 5],
  ['log', 0, 5],
  ['log1p', -0.9, 5],
  ['expm1', -5, 5],
  ['sqrt', 0, 5],
  ['abs', -5, 5],
  ['sign', -5, 5],
  ['floor', -5, 5],
  ['ceil', -5, 5],
  ['round', -5, 5],
  ['square', -5, 5],
  ['reciprocal', 0.5, 5],
  ['sin', -5, 5],
  ['cos', -5, 5],
  ['tan', -1.5, 1.5],
  ['positive', -5, 5],
  ['negative', -5, 5],
];
const binary: [string, number, number][] = [
  ['hypot', -5, 5],
  ['fmod', -5, 5],
  ['logaddexp', -5, 5],
  ['logaddexp2', -5, 5],
  ['copysign', -5, 5],
  ['heaviside', -2, 2],
  ['fmax', -5, 5],
  ['fmin', -5, 5],
  ['add', -5, 5],
  ['subtract', -5, 5],
  ['multiply', -5, 5],
  ['divide', -5, 5],
  ['power', 0, 3],
  ['maximum', -5, 5],
  ['minimum', -5, 5],
  ['arctan2', -5, 5],
  ['floorDivide', -5, 5],
  ['remainder', -5, 5],
  ['equal', -2, 2],
  ['less', -2, 2],
];
const reductions = [
  'sum',
  'mean',
  'prod',
  'max',
  'min',
  'std',
  'var',
  'nansum',
  'nanmax',
  'nanmin',
  'nanmean',
  'nanvar',
  'nanstd',
  'nanprod',
  'ptp',
  'countNonzero',
  'median',
  'average',
  'all',
  'any',
];
const specs: Spec[] = [
  ...unary.map(([fn, lo, hi]): Spec => ({
    fn,
    make: (g) => ({ args: [arr(g, shapeOf(g), lo, hi, { special: 0.15 })] }),
  })),
  { fn: 'nanToNum', perDtype: true, make: (g) => ({ args: [arr(g, shapeOf(g), -5, 5, { special: 0.3 })] }) },
  ...binary.map(([fn, lo, hi]): Spec => ({
    fn,
    make: (g) => {
      const s = shapeOf(g);
      const pair = [arr(g, s, lo, hi, { special: 0.1 }), arr(g, broadcastable(g, s), lo, hi, { special: 0.1 })];
      return { args: g.u() < 0.5 ? pair : pair.reverse() };
    },
  })),
  ...['gcd', 'lcm'].map((fn): Spec => ({
    fn,
    make: (g) =>
      ((s) => ({ args: [arr(g, s, -40, 40, { int: true }), arr(g, s, -40, 40, { int: true })] }))(shapeOf(g)),
  })),
  ...reductions.map((fn): Spec => ({
    fn,
    make: (g) => {
      const s = shapeOf(g);
      return {
        args: [arr(g, s, -3, 3, { special: fn.startsWith('nan') ? 0.2 : 0.03 })],
        opts: reduceOpts(g, s.length, fn !== 'median'),
      };
    },
  })),
  ...['argmax', 'argmin', 'nanargmax', 'nanargmin'].map((fn): Spec => ({
    fn,
    make: (g) => {
      const s = shapeOf(g);
      const axis = axisOf(g, s.length, false);
      return {
        args: [arr(g, s, -3, 3, { special: fn.startsWith('nan') ? 0.1 : 0 })],
        opts: axis === undefined ? {} : { axis },
      };
    },
  })),
  ...['cumsum', 'cumprod', 'nancumsum', 'nancumprod'].map((fn): Spec => ({
    fn,
    make: (g) => {
      const s = shapeOf(g);
      const axis = s.length ? g.int(-s.length, s.length - 1) : undefined;
      return {
        args: [arr(g, s, -2, 2, { special: fn.startsWith('nan') ? 0.15 : 0 })],
        opts: axis === undefined ? {} : { axis },
      };
    },
  })),
  {
    fn: 'diff',
    make: (g) => ((s) => ({ args: [arr(g, s)], opts: { n: g.int(0, 2), axis: s.length ? -1 : 0 } }))(shapeOf(g)),
  },
  { fn: 'ediff1d', make: (g) => ({ args: [arr(g, shapeOf(g))] }) },
  {
    fn: 'quantile',
    make: (g) => ((s) => ({ args: [arr(g, s), g.pick([0, 0.3, 1, 0.5])], opts: reduceOpts(g, s.length) }))(shapeOf(g)),
  },
  {
    fn: 'percentile',
    make: (g) =>
      ((s) => ({
        args: [arr(g, s), arr(g, [2], 0, 100)],
        opts: { method: g.pick(['linear', 'lower', 'higher', 'midpoint', 'nearest']) },
      }))(shapeOf(g, 2, false)),
  },
  { fn: 'nanmedian', make: (g) => ({ args: [arr(g, shapeOf(g, 2, false), -3, 3, { special: 0.2 })] }) },
  {
    fn: 'sort',
    make: (g) =>
      ((s) => ({
        args: [arr(g, s, -3, 3, { special: 0.1 })],
        opts: s.length ? { axis: g.int(-s.length, s.length - 1) } : {},
      }))(shapeOf(g)),
  },
  {
    fn: 'cov',
    make: (g) => ({ args: [arr(g, [g.int(1, 3), g.int(2, 5)])], opts: g.u() < 0.3 ? { rowvar: false } : {} }),
  },
  { fn: 'corrcoef', make: (g) => ({ args: [arr(g, [g.int(2, 3), g.int(3, 5)])] }) },
  {
    fn: 'isclose',
    make: (g) =>
      ((s) => ({
        args: [arr(g, s, -1, 1, { special: 0.2 }), arr(g, s, -1, 1, { special: 0.2 })],
        opts: { equalNan: g.u() < 0.5 },
      }))(shapeOf(g)),
  },
  {
    fn: 'allclose',
    make: (g) => ((s) => ({ args: [arr(g, s, 0, 1), arr(g, s, 0, 1.001)], opts: { atol: 0.01 } }))(shapeOf(g)),
  },
  {
    fn: 'searchsorted',
    make: (g) => {
      const a = arr(g, [g.int(0, 6)]) as Tensor;
      a.array.sort((x, y) => x - y);
      return { args: [a, arr(g, shapeOf(g, 2), -3, 3, { special: 0.1 })], opts: { side: g.pick(['left', 'right']) } };
    },
  },
  {
    fn: 'digitize',
    make: (g) => ({
      args: [arr(g, shapeOf(g, 2)), { array: [-1, 0, 0.5, 2], shape: [4], dtype: 'float64' }],
      opts: { right: g.u() < 0.5 },
    }),
  },
  {
    fn: 'bincount',
    make: (g) => ({ args: [arr(g, [g.int(0, 8)], 0, 6, { int: true })], opts: { minlength: g.int(0, 8) } }),
  },
  {
    fn: 'histogram',
    make: (g) => ({ args: [arr(g, shapeOf(g, 2, false))], opts: { bins: g.int(1, 5), range: [-2, 2] } }),
  },
  {
    fn: 'interp',
    make: (g) => ({
      args: [arr(g, shapeOf(g, 2), -1, 4), { array: [0, 1, 1.5, 3], shape: [4], dtype: 'float64' }, arr(g, [4])],
    }),
  },
  ...['convolve', 'correlate'].map((fn): Spec => ({
    fn,
    make: (g) => ({
      args: [arr(g, [g.int(1, 6)]), arr(g, [g.int(1, 4)])],
      opts: { mode: g.pick(['full', 'same', 'valid']) },
    }),
  })),
  { fn: 'unique', make: (g) => ({ args: [arr(g, shapeOf(g, 2), -2, 2, { int: true })] }) },
  { fn: 'nonzero', make: (g) => ({ args: [arr(g, shapeOf(g, 3).concat([2]), -1, 2, { int: true })] }) },
  { fn: 'argwhere', make: (g) => ({ args: [arr(g, shapeOf(g, 2).concat([2]), -1, 2, { int: true })] }) },
  { fn: 'flatnonzero', make: (g) => ({ args: [arr(g, shapeOf(g, 2), -1, 2, { int: true })] }) },
  {
    fn: 'isin',
    make: (g) => ({ args: [arr(g, shapeOf(g), -2, 2, { int: true }), arr(g, [g.int(0, 3)], -2, 2, { int: true })] }),
  },
  ...['hstack', 'vstack', 'dstack', 'columnStack'].map((fn): Spec => ({
    fn,
    make: (g) => ((s) => ({ args: [[arr(g, s), arr(g, s)]] }))(shapeOf(g, 2, false)),
  })),
  { fn: 'arraySplit', make: (g) => ({ args: [arr(g, [g.int(0, 7), 2]), g.int(1, 4)] }) },
  { fn: 'rot90', make: (g) => ({ args: [arr(g, [g.int(1, 3), g.int(1, 3), 2]), g.int(-3, 4)] }) },
  { fn: 'flipud', make: (g) => ({ args: [arr(g, shapeOf(g, 3, false).concat([1]))] }) },
  { fn: 'fliplr', make: (g) => ({ args: [arr(g, [2, ...shapeOf(g, 2, false)])] }) },
  {
    fn: 'diag',
    make: (g) => ({ args: [arr(g, g.u() < 0.5 ? [g.int(0, 4)] : [g.int(1, 4), g.int(1, 4)]), g.int(-2, 2)] }),
  },
  { fn: 'diagonal', make: (g) => ({ args: [arr(g, [g.int(1, 4), g.int(1, 4), 2])], opts: { offset: g.int(-2, 2) } }) },
  { fn: 'trace', make: (g) => ({ args: [arr(g, [g.int(1, 4), g.int(1, 4)])] }) },
  { fn: 'kron', make: (g) => ({ args: [arr(g, shapeOf(g, 2, false)), arr(g, shapeOf(g, 2, false))] }) },
  {
    fn: 'meshgrid',
    spread: true,
    make: (g) => ({ args: [[arr(g, [g.int(0, 3)]), arr(g, [g.int(0, 3)])]], opts: { indexing: g.pick(['xy', 'ij']) } }),
  },
  { fn: 'vander', make: (g) => ({ args: [arr(g, [g.int(0, 4)])] }) },
  { fn: 'polyval', make: (g) => ({ args: [arr(g, [g.int(1, 4)]), arr(g, shapeOf(g, 2))] }) },
  {
    fn: 'trapezoid',
    make: (g) => ({ args: [arr(g, shapeOf(g, 2, false).concat([g.int(1, 4)]))], opts: { dx: g.pick([1, 0.5]) } }),
  },
  ...['tril', 'triu'].map((fn): Spec => ({
    fn,
    make: (g) => ({ args: [arr(g, [g.int(1, 4), g.int(1, 4)]), g.int(-2, 2)] }),
  })),
  // The semantics issue 20 lists: special powers, integer rounding and powers, bool arithmetic and
  // contractions, ddof past n, negative split indices, scalars in inner, empty gathers, bad transposes.
  {
    fn: 'power',
    make: (g) => ({
      args: [arr(g, [5], -1, -1), { array: [Infinity, -Infinity, 0, 2, NaN], shape: [5], dtype: 'float64' }],
    }),
  },
  ...['floor', 'ceil', 'round', 'trunc'].map((fn): Spec => ({
    fn,
    make: (g) => ({ args: [arr(g, [4], -(2 ** 31), 2 ** 31 - 1, { int: true })] }),
  })),
  { fn: 'power', make: (g) => ({ args: [arr(g, [4], -5, 5, { int: true }), arr(g, [4], 0, 12, { int: true })] }) },
  ...['add', 'multiply', 'matmul', 'dot', 'outer', 'inner'].map((fn): Spec => ({
    fn,
    make: (g) => ({
      args: [arr(g, [3, 3], 0, 2, { int: true, dtype: 'bool' }), arr(g, [3, 3], 0, 2, { int: true, dtype: 'bool' })],
    }),
  })),
  { fn: 'abs', make: (g) => ({ args: [arr(g, [4], 0, 2, { int: true, dtype: 'bool' })] }) },
  {
    fn: 'tensordot',
    make: (g) => ({
      args: [arr(g, [2, 3], 0, 2, { int: true, dtype: 'bool' }), arr(g, [3, 2], 0, 2, { int: true, dtype: 'bool' }), 1],
    }),
  },
  ...['var', 'std'].map((fn): Spec => ({
    fn,
    make: (g) => ({ args: [arr(g, [g.int(1, 3)])], opts: { ddof: g.int(0, 4) } }),
  })),
  { fn: 'split', make: (g) => ({ args: [arr(g, [6]), [g.int(-7, 7), g.int(-7, 7)].sort((a, b) => a - b)] }) },
  { fn: 'inner', make: (g) => ({ args: [arr(g, [3]), g.int(-3, 3)] }) },
  { fn: 'takeAlongAxis', make: (g) => ({ args: [arr(g, [2, 0]), arr(g, [2, 0], 0, 1, { int: true }), 1] }) },
  {
    fn: 'transpose',
    make: (g) => ({
      args: [
        arr(g, [2, 3, 4]),
        g.pick([
          [0, 1],
          [2, 1, 0],
          [0, 0, 1],
          [0, 1, 2, 3],
        ]),
      ],
    }),
  },
  { fn: 'full', make: (g) => ({ args: [[2, g.int(0, 3)], g.pick([3, 2.5, true])] }) },
  {
    fn: 'einsum',
    make: (g) => {
      const n = g.int(1, 3);
      const [sp, ...ops] = g.pick<[string, ...number[][]]>([
        ['ii->i', [n, n]],
        ['ii', [n, n]],
        ['ij,jk', [n, 2], [2, 3]],
        ['...ij,...jk->...ik', [2, n, 2], [2, 3]],
        ['ij,ij->ij', [n, 1], [1, 3]],
        ['bii->bi', [2, n, n]],
        ['i,i', [n], [n]],
      ]);
      const bool = g.u() < 0.2;
      return {
        args: [sp, ...ops.map((shape) => arr(g, shape, bool ? 0 : -2, 2, bool ? { int: true, dtype: 'bool' } : {}))],
      };
    },
  },
  {
    fn: 'pad',
    make: (g) => {
      const s = [g.int(1, 4), ...shapeOf(g, 1, false)]; // NumPy reads an empty pad list as floats
      return {
        args: [arr(g, s), s.map(() => [g.int(0, 5), g.int(0, 5)])],
        opts: { mode: g.pick(['constant', 'edge', 'reflect', 'symmetric', 'wrap']) },
      };
    },
  },
  // np.linalg
  {
    fn: 'linalg.solve',
    make: (g) => ((n) => ({ args: [conditioned(g, n), arr(g, g.u() < 0.5 ? [n] : [n, 2])] }))(g.int(1, 5)),
  },
  { fn: 'linalg.inv', make: (g) => ({ args: [conditioned(g, g.int(1, 5), g.u() < 0.3 ? [2] : [])] }) },
  {
    fn: 'linalg.det',
    make: (g) => ({ args: [g.u() < 0.2 ? arr(g, [2, 2], 1, 1) : conditioned(g, g.int(1, 5), g.u() < 0.3 ? [2] : [])] }),
  },
  { fn: 'linalg.slogdet', make: (g) => ({ args: [conditioned(g, g.int(1, 5))] }) },
  { fn: 'linalg.cholesky', make: (g) => ({ args: [spd(g, g.int(1, 5))] }) },
  { fn: 'linalg.qr', abs: true, make: (g) => ({ args: [matrix(g, g.int(1, 5), g.int(1, 5))], opts: { mode: 'r' } }) },
  {
    fn: 'linalg.svd',
    make: (g) => ({ args: [matrix(g, g.int(1, 5), g.int(1, 5), g.u() < 0.3 ? [2] : [])], opts: { computeUv: false } }),
  },
  { fn: 'linalg.svdvals', make: (g) => ({ args: [matrix(g, g.int(1, 5), g.int(1, 5))] }) },
  { fn: 'linalg.eigvalsh', make: (g) => ({ args: [matrix(g, 4)], opts: { UPLO: g.pick(['L', 'U']) } }) },
  {
    fn: 'linalg.norm',
    make: (g) => {
      if (g.u() < 0.5)
        return { args: [arr(g, [g.int(1, 5)])], opts: { ord: g.pick([null, 1, 2, 3, 0, Infinity, -Infinity]) } };
      return {
        args: [matrix(g, g.int(1, 4), g.int(1, 4))],
        opts: { ord: g.pick([null, 'fro', 'nuc', 1, -1, 2, -2, Infinity, -Infinity]) },
      };
    },
  },
  { fn: 'linalg.pinv', slack: 10, make: (g) => ({ args: [matrix(g, g.int(1, 4), g.int(1, 4))] }) },
  {
    fn: 'linalg.lstsq',
    first: true,
    slack: 10,
    make: (g) => ((m) => ({ args: [matrix(g, m, g.int(1, m)), arr(g, [m])] }))(g.int(2, 5)),
  },
  { fn: 'linalg.matrixPower', make: (g) => ({ args: [conditioned(g, g.int(1, 3)), g.int(-2, 3)] }) },
  {
    fn: 'linalg.matrixRank',
    make: (g) => ({ args: [g.u() < 0.3 ? arr(g, [3, 3], 1, 1) : matrix(g, g.int(1, 4), g.int(1, 4))] }),
  },
  { fn: 'linalg.multiDot', make: (g) => ({ args: [[matrix(g, 2, 3), matrix(g, 3, 4), matrix(g, 4, 2)]] }) },
  { fn: 'linalg.cond', slack: 10, make: (g) => ({ args: [conditioned(g, g.int(1, 4))] }) },
  { fn: 'linalg.cross', make: (g) => ({ args: [arr(g, [g.int(1, 3), 3]), arr(g, [3])] }) },
  { fn: 'linalg.vecdot', make: (g) => ({ args: [arr(g, [2, 3]), arr(g, [3])] }) },
  { fn: 'linalg.matrixTranspose', make: (g) => ({ args: [arr(g, [2, 3, g.int(1, 3)])] }) },
];

// ---------------------------------------------------------------- running both sides
const CASES_PER_SPEC = 24;
const toFluxion = (a: Arg, dtype: DType): unknown => {
  if (globalThis.Array.isArray(a)) return a.map((x) => toFluxion(x, dtype));
  if (typeof a !== 'object') return a;
  const d = a.dtype.startsWith('float') ? dtype : a.dtype;
  return np.array(a.array, { dtype: d, shape: a.shape });
};
const toJson = (a: Arg): unknown =>
  globalThis.Array.isArray(a)
    ? a.map(toJson)
    : typeof a === 'object'
      ? { ...a, array: a.array.map((v) => (Object.is(v, -0) ? '-0.0' : Number.isFinite(v) ? v : String(v))) }
      : a;
type Out = { shape: number[]; dtype: string; data: (number | string)[] };
const kind = (d: string) => (d === 'bool' ? 'bool' : /int/.test(d) ? 'int' : 'float');
const num = (v: number | string) => (typeof v === 'string' ? Number(v) : v);
const resolve = (fn: string) => fn.split('.').reduce((o: any, k) => o[k], np) as (...a: unknown[]) => unknown;

function flatOutputs(r: unknown): Array[] {
  return globalThis.Array.isArray(r) ? r.flatMap(flatOutputs) : [r as Array];
}
function refOutputs(r: Out | Out[]): Out[] {
  return globalThis.Array.isArray(r) ? r.flatMap(refOutputs) : [r];
}
function compare(spec: Spec, got: Array[], want: Out[], dtype: DType, scale: number): string | null {
  if (spec.first) [got, want] = [got.slice(0, 1), want.slice(0, 1)];
  if (got.length !== want.length) return `${got.length} outputs, NumPy ${want.length}`;
  for (let k = 0; k < got.length; k++) {
    const [g, w] = [got[k], want[k]];
    if (g.shape.join() !== w.shape.join()) return `output ${k}: shape [${g.shape}] vs NumPy [${w.shape}]`;
    if (kind(g.dtype) !== kind(w.dtype)) return `output ${k}: dtype ${g.dtype} vs NumPy ${w.dtype}`;
    const gv = globalThis.Array.from(g.dataSync() as ArrayLike<number>);
    const base = dtype === 'float64' ? 1e-9 : 2e-5;
    const tol = base * (spec.slack ?? 1);
    for (let i = 0; i < gv.length; i++) {
      let [a, b] = [gv[i], num(w.data[i])];
      if (spec.abs) [a, b] = [Math.abs(a), Math.abs(b)];
      if (Number.isNaN(b) ? Number.isNaN(a) : a === b) continue;
      if (kind(w.dtype) !== 'float' || !Number.isFinite(b) || !Number.isFinite(a))
        return `output ${k}[${i}]: ${a} vs NumPy ${b}`;
      if (Math.abs(a - b) > tol * (Math.abs(b) + scale)) return `output ${k}[${i}]: ${a} vs NumPy ${b}`;
    }
  }
  return null;
}

describe('np and np.linalg against NumPy', () => {
  const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (python.status !== 0) {
    it('needs python3-numpy (installed by .ci/run)', () => {
      console.log(
        `NumPy differential test skipped: python3 with numpy is not available (${python.stderr.trim().slice(0, 80)})`,
      );
    });
    return;
  }
  const r = rng(20261203);
  const g: Gen = {
    u: r,
    int: (lo, hi) => lo + Math.floor(r() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(r() * xs.length)],
  };
  const cases = specs.flatMap((spec) =>
    globalThis.Array.from({ length: CASES_PER_SPEC }, () => ({ spec, ...spec.make(g) })),
  );
  const request = (c: (typeof cases)[number], float32: boolean) =>
    JSON.stringify(
      { fn: c.spec.fn, args: c.args.map(toJson), opts: c.opts ?? {}, spread: c.spec.spread ?? false, float32 },
      (_k, v) => (v === Infinity || v === -Infinity ? String(v) : v),
    );
  const input = [
    ...cases.map((c) => request(c, false)),
    ...cases.filter((c) => c.spec.perDtype).map((c) => request(c, true)),
  ].join('\n');
  const run = spawnSync('python3', [fileURLToPath(new URL('./numpy/reference.py', import.meta.url))], {
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const results = run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { ok?: Out | Out[]; error?: string });

  it(`${cases.length} cases in float64 and float32: equal values, equal refusals`, () => {
    expect(run.status, run.stderr).toBe(0);
    const perDtype = cases.filter((c) => c.spec.perDtype);
    expect(results.length).toBe(cases.length + perDtype.length);
    const mismatches: string[] = [];
    let valued = 0;
    cases.forEach((c, i) => {
      for (const dtype of ['float64', 'float32'] as DType[]) {
        const want = c.spec.perDtype && dtype === 'float32' ? results[cases.length + perDtype.indexOf(c)] : results[i];
        const label = `${c.spec.fn}(${JSON.stringify(c.args.map(toJson)).slice(0, 120)}, ${JSON.stringify(c.opts ?? {})}) ${dtype}`;
        let got: Array[] | null = null;
        try {
          const args = c.args.map((a) => toFluxion(a, dtype));
          got = flatOutputs(resolve(c.spec.fn)(...args, ...(c.opts ? [c.opts] : [])));
        } catch (e) {
          if (!(e instanceof FluxionError))
            mismatches.push(`${label}: generic ${(e as Error).name}: ${(e as Error).message.slice(0, 100)}`);
          else if (want.ok)
            mismatches.push(`${label}: refused (${(e as Error).message.slice(0, 80)}) where NumPy gives a value`);
          continue;
        }
        if (want.error) {
          mismatches.push(`${label}: accepted where NumPy raises ${want.error.slice(0, 80)}`);
          continue;
        }
        valued++;
        const scale = c.args
          .flatMap((a) => (typeof a === 'object' && !globalThis.Array.isArray(a) ? a.array : []))
          .reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 1);
        const why = compare(c.spec, got, refOutputs(want.ok!), dtype, scale);
        if (why) mismatches.push(`${label}: ${why}`);
      }
    });
    // Where Fluxion follows JAX instead of NumPy (docs/api.md lists them).
    const documented = [
      /^nanarg(max|min)\(.*accepted where NumPy raises ValueError: All-NaN slice/, // -1, as JAX: a jitted function cannot raise
    ];
    const deviations = mismatches.filter((m) => documented.some((d) => d.test(m)));
    mismatches.splice(0, mismatches.length, ...mismatches.filter((m) => !deviations.includes(m)));
    console.log(`NumPy differential: ${deviations.length} documented deviations (JAX's semantics)`);
    console.log(
      `NumPy differential: ${cases.length} cases x 2 dtypes, ${valued} valued, ${mismatches.length} mismatches`,
    );
    if (process.env.NUMPY_DIFF_DUMP) {
      const byFn = new Map<string, string[]>();
      for (const m of mismatches) byFn.set(m.split('(')[0], [...(byFn.get(m.split('(')[0]) ?? []), m]);
      for (const [fn, ms] of byFn) console.log(`${fn}: ${ms.length}\n  ${ms.slice(0, 3).join('\n  ')}`);
    }
    expect(mismatches.slice(0, 30)).toEqual([]);
  });
});

describe('bool updates through x.at(...) follow NumPy ufuncs', () => {
  it('add is logical or and multiply logical and (np.add.at, np.multiply.at), at repeated indices too', () => {
    const b = np.array([true, false, false]);
    expect(globalThis.Array.from(b.at(1).add(true).dataSync())).toEqual([1, 1, 0]);
    expect(
      globalThis.Array.from(
        b
          .at(np.array([2, 2], { dtype: 'int32' }))
          .add(true)
          .dataSync(),
      ),
    ).toEqual([1, 0, 1]);
    expect(globalThis.Array.from(b.at(0).multiply(false).dataSync())).toEqual([0, 0, 0]);
    expect(b.at(1).add(true).dtype).toBe('bool');
  });
});
