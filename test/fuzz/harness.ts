// The fuzz harness: random calls of every public `np` function (and common nn.functional ones)
// over random shapes (zero-size, rank 0-6), dtypes, special values, bad options and non-array
// operands. Each outcome must be the reference result (plain-JS numpy semantics where cheap) or
// a FluxionError; the jit, vmap and grad versions must agree with eager. `signatures` must name
// every function of `np`, so a new function is fuzzed without anyone remembering to.
import fc from 'fast-check';
import { type NDArray, FluxionError, grad, jit, nn, np, vmap } from '../../src/index.js';
import { type DType, coerce, dtypes, intRange, isFloat, isHalf } from '../../src/core/dtype.js';

type Gen = fc.GeneratorValue;
type DT = DType;
/** Operands are mostly float32 (the plain-JS references check those), then every other dtype. */
const OPERAND_DTYPES: DT[] = [
  'float32',
  'float32',
  'float32',
  'int32',
  'bool',
  ...dtypes.filter((d) => !['float32', 'int32', 'bool'].includes(d)),
];
/** One call: the function, its arguments, and why it is invalid when the generator made it so. */
export interface Case {
  fn: string;
  args: unknown[];
  invalid?: string;
  /** The expected result, from plain JS, when it is cheap to compute. */
  expected?: () => Expected;
}
type Expected = { shape: number[]; data: number[] };

/** Outcome classes; the first four must stay at zero. */
export type Outcome =
  | 'wrong result'
  | 'generic error'
  | 'accepted invalid input'
  | 'transform disagrees'
  | 'documented deviation'
  | 'value'
  | 'FluxionError';

/**
 * Differences the suite accepts, each justified in docs/robustness.md: ONNX Runtime's matrix
 * products (MLAS) do not propagate NaN from an `inf * 0` term of a dot product.
 */
const contractions = new Set(['dot', 'matmul', 'inner', 'outer', 'tensordot', 'einsum']);
/** Functions that accumulate: their results depend on the order of float32 additions and products. */
const accumulating = new Set([
  ...contractions,
  ...['sum', 'mean', 'prod', 'var', 'variance', 'std', 'logsumexp', 'cumsum', 'cumprod', 'trace', 'average'],
  ...['nansum', 'nanprod', 'nanmean', 'nanvar', 'nanstd', 'nancumsum', 'nancumprod', 'cov', 'corrcoef'],
  ...['polyval', 'trapezoid', 'convolve', 'correlate', 'histogram'],
]);
const documented = (fn: string, detail: string) =>
  (contractions.has(fn) && /^jit: element \d+: -?Infinity vs NaN$/.test(detail)) ||
  // Summing or multiplying near float32's limit in another order can overflow where eager did not.
  (accumulating.has(fn) && /: element \d+: -?Infinity vs -?\d(\.\d+)?e\+3[6-8]$/.test(detail));

// ---------------------------------------------------------------- generators

const int = (g: Gen, min: number, max: number) => g(fc.integer, { min, max });
const pick = <T>(g: Gen, xs: readonly T[]): T => xs[int(g, 0, xs.length - 1)];
const chance = (g: Gen, p: number) => int(g, 0, 999) < p * 1000;

const specials = [NaN, Infinity, -Infinity, 0, -0, 1e38, -1e38, 1e-45, 3.4e38];
const intSpecials = [0, 1, -1, 2147483647, -2147483648, 65536];
function value(g: Gen, dtype: DT): number | boolean {
  if (dtype === 'bool') return chance(g, 0.5);
  if (dtype === 'int32') return chance(g, 0.1) ? pick(g, intSpecials) : int(g, -9, 9);
  if (!isFloat(dtype)) {
    const [lo, hi] = intRange(dtype);
    return chance(g, 0.1) ? pick(g, [lo, hi, 0, 1]) : int(g, Math.max(lo, -9), 9);
  }
  if (chance(g, 0.08)) return pick(g, specials);
  return Math.fround(int(g, -4000, 4000) / 1000);
}
function shape(g: Gen, maxRank = 4): number[] {
  const rank = chance(g, 0.03) ? int(g, 5, 6) : int(g, 0, maxRank);
  return Array.from({ length: rank }, () => (chance(g, 0.07) ? 0 : int(g, 1, rank > 4 ? 2 : 4)));
}
const sizeOf = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** A concrete operand with its plain-JS values (row-major). */
interface Operand {
  value: unknown;
  shape: number[];
  dtype: DT;
  data: number[];
}
function operand(g: Gen, s = shape(g), dtype: DT = pick(g, OPERAND_DTYPES)): Operand {
  const vals = Array.from({ length: sizeOf(s) }, () => value(g, dtype));
  // The values the array holds: rounded (floats) or wrapped (integers) into the dtype.
  const data = vals.map((v) => coerce(dtype, Number(v)));
  const arr = np.reshape(np.array(vals as number[], { dtype }), s);
  // Mostly arrays; sometimes the same values as a JS number or nested list (float only: lists are float32).
  if (dtype === 'float32' && s.length === 0 && chance(g, 0.3)) return { value: data[0], shape: s, dtype, data };
  if (dtype === 'float32' && s.length > 0 && s.length < 3 && !s.includes(0) && chance(g, 0.1))
    return { value: arr.toArray(), shape: s, dtype, data };
  return { value: arr, shape: s, dtype, data };
}
/** A shape that broadcasts against `s` (a suffix with some axes set to 1). */
function broadcastable(g: Gen, s: number[]): number[] {
  const k = int(g, 0, s.length);
  return s.slice(s.length - k).map((d) => (chance(g, 0.3) ? 1 : d));
}

const badOperands: [string, () => unknown][] = [
  ['null operand', () => null],
  ['undefined operand', () => undefined],
  ['string operand', () => 'abc'],
  ['object operand', () => ({ a: 1 })],
  ['ragged list', () => [[1, 2], [3]]],
  ['list with a string', () => [1, 'a']],
];
const badInts: [string, number | unknown][] = [
  ['fractional', 1.5],
  ['NaN', NaN],
  ['negative', -3],
  ['infinite', Infinity],
  ['huge', 1e12],
  ['string', '2'],
];

// ---------------------------------------------------------------- references

const promoteFloat = (ops: Operand[]) => ops.every((o) => o.dtype === 'float32');
function broadcastShape(a: number[], b: number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1,
      y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}
function at(o: Operand, out: number[], idx: number[]): number {
  let flat = 0;
  const off = out.length - o.shape.length;
  o.shape.forEach((d, i) => (flat = flat * d + (d === 1 ? 0 : idx[off + i])));
  return o.data[flat];
}
function elementwise(ops: Operand[], f: (...xs: number[]) => number): Expected | undefined {
  let s: number[] | null = [];
  for (const o of ops) s = s && broadcastShape(s, o.shape);
  if (!s) return undefined;
  const out: number[] = [];
  const idx = s.map(() => 0);
  for (let k = 0; k < sizeOf(s); k++) {
    let r = k;
    for (let i = s.length - 1; i >= 0; i--) {
      idx[i] = r % s[i];
      r = Math.floor(r / s[i]);
    }
    out.push(f(...ops.map((o) => at(o, s!, idx))));
  }
  return { shape: s, data: out };
}
/** Reference of a reduction over `axis` (undefined/null: all axes). */
function reduceRef(o: Operand, axis: unknown, keepdims: boolean, f: (xs: number[]) => number): Expected | undefined {
  const r = o.shape.length;
  const axes =
    axis === undefined || axis === null
      ? o.shape.map((_, i) => i)
      : (Array.isArray(axis) ? axis : [axis]).map((a: number) => (a < 0 ? a + r : a));
  const keep = o.shape.map((_, i) => !axes.includes(i));
  const outShape = o.shape.flatMap((d, i) => (keep[i] ? [d] : keepdims ? [1] : []));
  const groups = new Map<number, number[]>();
  const idx = o.shape.map(() => 0);
  for (let k = 0; k < o.data.length; k++) {
    let rem = k;
    for (let i = r - 1; i >= 0; i--) {
      idx[i] = rem % o.shape[i];
      rem = Math.floor(rem / o.shape[i]);
    }
    let key = 0;
    o.shape.forEach((d, i) => keep[i] && (key = key * d + idx[i]));
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(o.data[k]);
  }
  return { shape: outShape, data: Array.from({ length: sizeOf(outShape) }, (_, k) => f(groups.get(k) ?? [])) };
}
const nanMax = (xs: number[]) => (xs.some(Number.isNaN) ? NaN : Math.max(...xs));
const nanMin = (xs: number[]) => (xs.some(Number.isNaN) ? NaN : Math.min(...xs));
const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------- signatures

type Maker = (g: Gen) => Case;
const unaryRefs: Record<string, ((x: number) => number) | null> = {
  abs: Math.abs,
  ceil: Math.ceil,
  cos: Math.cos,
  exp: Math.exp,
  expm1: Math.expm1,
  floor: Math.floor,
  log: Math.log,
  log1p: Math.log1p,
  negative: (x) => -x,
  reciprocal: (x) => 1 / x,
  round: (x) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x)),
  rsqrt: (x) => 1 / Math.sqrt(x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  sign: (x) => (Number.isNaN(x) ? NaN : Math.sign(x)),
  sin: Math.sin,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  tan: Math.tan,
  tanh: Math.tanh,
  erf: null,
  erfinv: null,
  isfinite: (x) => +Number.isFinite(x),
  isnan: (x) => +Number.isNaN(x),
  logicalNot: (x) => +!(x || Number.isNaN(x)),
  stopGradient: (x) => x,
  arcsin: Math.asin,
  arccos: Math.acos,
  arctan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  arcsinh: Math.asinh,
  arccosh: Math.acosh,
  arctanh: Math.atanh,
  log2: Math.log2,
  log10: Math.log10,
  exp2: (x) => 2 ** x,
  cbrt: Math.cbrt,
  trunc: Math.trunc,
  fix: Math.trunc,
  rint: (x) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x)),
  absolute: Math.abs,
  positive: (x) => x,
  signbit: null,
  isinf: (x) => +(Math.abs(x) === Infinity),
  isposinf: (x) => +(x === Infinity),
  isneginf: (x) => +(x === -Infinity),
  nanToNum: null,
  deg2rad: (x) => (x * Math.PI) / 180,
  rad2deg: (x) => (x * 180) / Math.PI,
  radians: (x) => (x * Math.PI) / 180,
  degrees: (x) => (x * 180) / Math.PI,
  sinc: null,
  bitwiseNot: null,
  invert: null,
  atleast1d: null,
  atleast2d: null,
  atleast3d: null,
  ediff1d: null,
  diagflat: null,
  emptyLike: null,
};
const binaryRefs: Record<string, ((a: number, b: number) => number) | null> = {
  add: (a, b) => a + b,
  subtract: (a, b) => a - b,
  multiply: (a, b) => a * b,
  divide: (a, b) => a / b,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  pow: (a, b) => (a === 1 ? 1 : Math.pow(a, b)), // C and numpy: 1 to any power is 1
  power: (a, b) => (a === 1 ? 1 : Math.pow(a, b)),
  arctan2: Math.atan2,
  mod: null,
  remainder: null,
  floorDivide: null,
  equal: (a, b) => +(a === b),
  notEqual: (a, b) => +(a !== b),
  less: (a, b) => +(a < b),
  lessEqual: (a, b) => +(a <= b),
  greater: (a, b) => +(a > b),
  greaterEqual: (a, b) => +(a >= b),
  logicalAnd: null,
  logicalOr: null,
  logicalXor: null,
  bitwiseAnd: null,
  bitwiseOr: null,
  bitwiseXor: null,
  dot: null,
  matmul: null,
  inner: null,
  outer: null,
  tensordot: null,
  hypot: Math.hypot,
  fmod: (a, b) => a % b,
  logaddexp: null,
  logaddexp2: null,
  copysign: null,
  heaviside: null,
  fmax: null,
  fmin: null,
  floatPower: (a, b) => (a === 1 ? 1 : Math.pow(a, b)),
  trueDivide: (a, b) => a / b,
  gcd: null,
  lcm: null,
  leftShift: null,
  rightShift: null,
  isclose: null,
  allclose: null,
  arrayEqual: null,
  arrayEquiv: null,
  kron: null,
  isin: null,
  searchsorted: null,
  digitize: null,
  convolve: null,
  correlate: null,
  append: null,
  polyval: null,
  interp: null,
};
const reductions: Record<string, ((xs: number[]) => number) | null> = {
  sum: sumOf,
  mean: (xs) => Math.fround(sumOf(xs)) / xs.length, // a float32 sum past its range is inf, as in numpy
  max: nanMax,
  min: nanMin,
  prod: (xs) => xs.reduce((a, b) => Math.fround(a * b), 1), // float32 at every step, as numpy
  all: null,
  any: null,
  logsumexp: null,
  std: null,
  var: null,
  variance: null,
  argmax: null,
  argmin: null,
  nansum: null,
  nanprod: null,
  nanmax: null,
  nanmin: null,
  nanmean: null,
  nanvar: null,
  nanstd: null,
  nanargmax: null,
  nanargmin: null,
  ptp: null,
  countNonzero: null,
  median: null,
  average: null,
};

/** Sometimes replaces an operand by a non-array, marking the case invalid. */
function maybeBad(g: Gen, c: Case, i: number): Case {
  if (!chance(g, 0.06)) return c;
  const [why, make] = pick(g, badOperands);
  const args = [...c.args];
  args[i] = make();
  return { fn: c.fn, args, invalid: why };
}
/** An axis option: valid (int, list, null), or invalid (out of range, fractional, string). */
function axisOpt(g: Gen, rank: number, list = true): { axis?: unknown; invalid?: string } {
  const k = int(g, 0, 9);
  if (k < 2) return {};
  if (k < 3) return { axis: list ? null : undefined };
  if (k === 8 && chance(g, 0.5)) return { axis: pick(g, [rank, -rank - 1, 1.5, 'a']), invalid: 'bad axis' };
  if (rank === 0) return {};
  if (list && k === 7) {
    const axes = [...new Set(Array.from({ length: int(g, 1, rank) }, () => int(g, 0, rank - 1)))];
    return { axis: axes };
  }
  return { axis: int(g, -rank, rank - 1) };
}

function unary(name: string): Maker {
  const f = unaryRefs[name];
  return (g) => {
    const x = operand(g);
    const c: Case = {
      fn: name,
      args: [x.value],
      expected: f && x.dtype === 'float32' && name !== 'logicalNot' ? () => elementwise([x], f)! : undefined,
    };
    return maybeBad(g, c, 0);
  };
}
function binary(name: string): Maker {
  const f = binaryRefs[name];
  return (g) => {
    const a = operand(g);
    const s2 = chance(g, 0.85) ? broadcastable(g, a.shape) : shape(g);
    const b = operand(g, s2, chance(g, 0.7) ? a.dtype : undefined);
    const both = [a, b];
    if (chance(g, 0.5)) both.reverse();
    const c: Case = {
      fn: name,
      args: both.map((o) => o.value),
      expected: f && promoteFloat(both) ? () => elementwise(both, f)! : undefined,
    };
    if (f && promoteFloat(both) && !elementwise(both, () => 0)) c.invalid = 'shapes do not broadcast';
    return maybeBad(g, c, int(g, 0, 1));
  };
}
function reduction(name: string): Maker {
  const f = reductions[name];
  const arg = /arg(max|min)$/.test(name);
  return (g) => {
    const x = operand(g);
    const ax = axisOpt(g, x.shape.length, !arg);
    const keepdims = chance(g, 0.3);
    const opts = { ...('axis' in ax ? { axis: ax.axis } : {}), ...(keepdims ? { keepdims } : {}) };
    const c: Case = { fn: name, args: [x.value, opts], invalid: ax.invalid };
    const empty = x.shape.length === 0 ? false : x.data.length === 0;
    if (f && x.dtype === 'float32' && !ax.invalid && !(empty && (name === 'max' || name === 'min')))
      c.expected = () => reduceRef(x, ax.axis, keepdims, f)!;
    return maybeBad(g, c, 0);
  };
}
/** A size argument: valid non-negative integer, or invalid. */
function size(g: Gen, max = 5, empty = false): { v: unknown; invalid?: string } {
  if (chance(g, 0.1)) {
    const [why, v] = pick(g, badInts);
    // Repeating or padding an empty array a huge number of times is still empty, and valid.
    return { v, invalid: why === 'huge' && empty ? undefined : `${why} size` };
  }
  return { v: int(g, 0, max) };
}
function shapeArg(g: Gen): { v: unknown; invalid?: string } {
  const s = shape(g, 3);
  if (chance(g, 0.1)) {
    const [why, v] = pick(g, badInts);
    // A huge axis beside an empty one makes an empty array, which is valid (as in numpy).
    return { v: [...s, v], invalid: why === 'huge' && s.includes(0) ? undefined : `${why} dimension` };
  }
  return { v: s };
}
const firstInvalid = (...xs: { invalid?: string }[]) => xs.find((x) => x.invalid)?.invalid;

const creation: Record<string, Maker> = {
  zeros: (g) => ((s) => ({ fn: 'zeros', args: [s.v], invalid: s.invalid }))(shapeArg(g)),
  ones: (g) => ((s) => ({ fn: 'ones', args: [s.v], invalid: s.invalid }))(shapeArg(g)),
  full: (g) => ((s) => ({ fn: 'full', args: [s.v, value(g, 'float32')], invalid: s.invalid }))(shapeArg(g)),
  eye: (g) => ((n) => ({ fn: 'eye', args: [n.v], invalid: n.invalid }))(size(g)),
  arange: (g) => {
    const start = int(g, -5, 5),
      stop = int(g, -5, 10),
      step = pick(g, [1, 2, -1, 0.5, 0]);
    const invalid = step === 0 ? 'zero step' : undefined;
    const n = Math.max(0, Math.ceil((stop - start) / step));
    return {
      fn: 'arange',
      args: [start, stop, step],
      invalid,
      expected: invalid
        ? undefined
        : () => ({ shape: [n], data: Array.from({ length: n }, (_, i) => start + i * step) }),
    };
  },
  linspace: (g) => {
    const n = size(g, 6);
    return {
      fn: 'linspace',
      args: [0, 1, n.v],
      invalid: n.invalid,
      expected:
        n.invalid || (n.v as number) < 2
          ? undefined
          : () => ({
              shape: [n.v as number],
              data: Array.from({ length: n.v as number }, (_, i) => i / ((n.v as number) - 1)),
            }),
    };
  },
  array: (g) => {
    const x = operand(g);
    if (chance(g, 0.1)) {
      const [why, make] = pick(g, badOperands.slice(2));
      return { fn: 'array', args: [make()], invalid: why };
    }
    return {
      fn: 'array',
      args: [x.value instanceof Object && 'toArray' in x.value ? (x.value as NDArray).toArray() : x.value],
    };
  },
  asarray: (g) => ({ ...creation.array(g), fn: 'asarray' }),
  zerosLike: (g) => ({ fn: 'zerosLike', args: [operand(g).value] }),
  onesLike: (g) => ({ fn: 'onesLike', args: [operand(g).value] }),
  fullLike: (g) => ({ fn: 'fullLike', args: [operand(g).value, 2] }),
};

function withArray(name: string, extra: (g: Gen, x: Operand) => { args: unknown[]; invalid?: string }): Maker {
  return (g) => {
    const x = operand(g);
    const e = extra(g, x);
    return maybeBad(g, { fn: name, args: [x.value, ...e.args], invalid: e.invalid }, 0);
  };
}
const axisArg = (g: Gen, rank: number) => {
  const a = axisOpt(g, rank, false);
  return { v: a.axis ?? 0, invalid: a.invalid ?? (rank === 0 ? 'axis of a 0-d array' : undefined) };
};

const shapes: Record<string, Maker> = {
  reshape: withArray('reshape', (g, x) => {
    const n = sizeOf(x.shape);
    const target = chance(g, 0.5) ? [n] : chance(g, 0.5) ? [-1] : shape(g);
    const invalid = sizeOf(target.map((d) => (d === -1 ? n : d))) !== n ? 'size mismatch' : undefined;
    return { args: [target], invalid };
  }),
  transpose: withArray('transpose', (g, x) => {
    if (chance(g, 0.5)) return { args: [] };
    const perm = x.shape.map((_, i) => i).sort(() => (chance(g, 0.5) ? 1 : -1));
    if (chance(g, 0.2)) return { args: [[...perm, 0]], invalid: 'bad permutation' };
    return { args: [perm] };
  }),
  swapaxes: withArray('swapaxes', (g, x) => {
    const a = axisArg(g, x.shape.length),
      b = axisArg(g, x.shape.length);
    return { args: [a.v, b.v], invalid: firstInvalid(a, b) };
  }),
  moveaxis: withArray('moveaxis', (g, x) => {
    const a = axisArg(g, x.shape.length),
      b = axisArg(g, x.shape.length);
    return { args: [a.v, b.v], invalid: firstInvalid(a, b) };
  }),
  expandDims: withArray('expandDims', (g, x) => {
    if (chance(g, 0.1)) return { args: [pick(g, [null, 'a', 1.5, x.shape.length + 2])], invalid: 'bad axis' };
    return { args: [int(g, -x.shape.length - 1, x.shape.length)] };
  }),
  squeeze: withArray('squeeze', () => ({ args: [] })),
  flip: withArray('flip', (g, x) => {
    const a = axisOpt(g, x.shape.length);
    return { args: ['axis' in a ? [{ axis: a.axis }] : []].flat(), invalid: a.invalid };
  }),
  roll: withArray('roll', (g, x) => {
    const a = axisArg(g, x.shape.length);
    return { args: [int(g, -5, 5), { axis: a.v }], invalid: a.invalid };
  }),
  tile: withArray('tile', (g, x) => {
    const r = size(g, 3, x.data.length === 0);
    return { args: [r.v], invalid: r.invalid };
  }),
  repeat: withArray('repeat', (g, x) => {
    const r = size(g, 3, x.data.length === 0 || x.shape.length === 0);
    const a = axisArg(g, x.shape.length);
    return { args: [r.v, { axis: a.v }], invalid: firstInvalid(r, a) };
  }),
  broadcastTo: withArray('broadcastTo', (g, x) => {
    const t = shapeArg(g);
    return { args: [chance(g, 0.6) ? [2, ...x.shape] : t.v], invalid: undefined };
  }),
  pad: withArray('pad', (g, x) => {
    const p = size(g, 2, x.shape.length === 0);
    return { args: [p.v], invalid: p.invalid };
  }),
  split: withArray('split', (g, x) => {
    const n = size(g, 3);
    const a = axisArg(g, x.shape.length);
    return { args: [n.v, { axis: a.v }], invalid: firstInvalid(n, a) ?? (n.v === 0 ? 'zero sections' : undefined) };
  }),
  slice: withArray('slice', (g, x) => {
    const idx = x.shape.map((d) =>
      pick(g, [null, int(g, -d, Math.max(0, d - 1)), [int(g, -d, d), int(g, -d, d)], [0, d, pick(g, [1, 2, -1])]]),
    );
    if (chance(g, 0.1)) return { args: [...idx, 1.5], invalid: 'fractional or extra index' };
    const emptyAxis = x.shape.some((d, i) => d === 0 && typeof idx[i] === 'number');
    return { args: idx, invalid: emptyAxis ? 'index into an empty axis' : undefined };
  }),
  concatenate: (g) => {
    const x = operand(g);
    const y = operand(g, x.shape, x.dtype);
    const a = axisArg(g, x.shape.length);
    if (chance(g, 0.06)) {
      const [why, make] = pick(g, badOperands);
      return { fn: 'concatenate', args: [[x.value, make()], { axis: a.v }], invalid: why };
    }
    return { fn: 'concatenate', args: [[x.value, y.value], { axis: a.v }], invalid: a.invalid };
  },
  ravel: withArray('ravel', () => ({ args: [] })),
  stack: (g) => {
    const x = operand(g);
    const y = operand(g, x.shape, x.dtype);
    const ax = int(g, -x.shape.length - 1, x.shape.length);
    return { fn: 'stack', args: [[x.value, y.value], { axis: ax }] };
  },
  broadcastArrays: (g) => {
    const x = operand(g);
    return { fn: 'broadcastArrays', args: [x.value, operand(g, broadcastable(g, x.shape)).value] };
  },
  where: (g) => {
    const c = operand(g, shape(g), 'bool');
    return maybeBad(
      g,
      { fn: 'where', args: [c.value, operand(g, c.shape).value, operand(g, broadcastable(g, c.shape)).value] },
      1,
    );
  },
  clip: withArray('clip', () => ({ args: [-1, 1] })),
  take: withArray('take', (g, x) => {
    const i = operand(g, shape(g, 2), 'int32');
    const a = axisArg(g, x.shape.length);
    return { args: [i.value, { axis: a.v }], invalid: a.invalid };
  }),
  takeAlongAxis: withArray('takeAlongAxis', (g, x) => {
    const a = axisArg(g, x.shape.length);
    return { args: [operand(g, x.shape, 'int32').value, a.v], invalid: a.invalid };
  }),
  sort: withArray('sort', (g, x) => {
    const a = axisArg(g, x.shape.length);
    return { args: [{ axis: a.v }], invalid: a.invalid };
  }),
  argsort: withArray('argsort', (g, x) => {
    const a = axisArg(g, x.shape.length);
    return { args: [{ axis: a.v }], invalid: a.invalid };
  }),
  cumsum: withArray('cumsum', (g, x) => {
    const a = axisArg(g, x.shape.length);
    return { args: [{ axis: a.v }], invalid: a.invalid };
  }),
  astype: withArray('astype', (g) => {
    const d = pick(g, [...dtypes, 'int64']);
    return { args: [d], invalid: d === 'int64' ? 'unknown dtype' : undefined };
  }),
  tri: (g) => {
    const [n, m] = [size(g, 5), size(g, 5)];
    return { fn: 'tri', args: [n.v, m.v, { k: int(g, -2, 2) }], invalid: n.invalid ?? m.invalid };
  },
  tril: withArray('tril', (g, x) => ({ args: [int(g, -2, 2)], invalid: x.shape.length < 2 ? 'under 2-d' : undefined })),
  triu: withArray('triu', (g, x) => ({ args: [int(g, -2, 2)], invalid: x.shape.length < 2 ? 'under 2-d' : undefined })),
  // Dtype queries take dtype names (an unknown one is an error); finfo wants a float, iinfo an integer.
  promoteTypes: (g) => {
    const [a, b] = [pick(g, [...dtypes, 'int64']), pick(g, dtypes)];
    return { fn: 'promoteTypes', args: [a, b], invalid: a === 'int64' ? 'unknown dtype' : undefined };
  },
  resultType: (g) => ({ fn: 'resultType', args: [pick(g, dtypes), pick(g, [2, 2.5, true])] }),
  finfo: (g) => {
    const d = pick(g, dtypes);
    return { fn: 'finfo', args: [d], invalid: d.startsWith('float') || d === 'bfloat16' ? undefined : 'not a float' };
  },
  iinfo: (g) => {
    const d = pick(g, dtypes);
    return { fn: 'iinfo', args: [d], invalid: /int/.test(d) ? undefined : 'not an integer' };
  },
  einsum: (g) => {
    const x = operand(g, [int(g, 1, 3), int(g, 1, 3)], 'float32');
    return { fn: 'einsum', args: ['ij->ji', x.value] };
  },
};

/** The functions of np's breadth beyond the elementwise and reduction families. */
const breadth: Record<string, Maker> = {
  cumprod: withArray('cumprod', (g, x) =>
    ((a) => ({ args: [{ axis: a.v }], invalid: a.invalid }))(axisArg(g, x.shape.length)),
  ),
  nancumsum: withArray('nancumsum', (g, x) =>
    ((a) => ({ args: [{ axis: a.v }], invalid: a.invalid }))(axisArg(g, x.shape.length)),
  ),
  nancumprod: withArray('nancumprod', (g, x) =>
    ((a) => ({ args: [{ axis: a.v }], invalid: a.invalid }))(axisArg(g, x.shape.length)),
  ),
  diff: withArray('diff', (g, x) => ({
    args: [{ n: int(g, 0, 2) }],
    invalid: x.shape.length === 0 ? '0-d' : undefined,
  })),
  quantile: withArray('quantile', (g) => ({ args: [pick(g, [0, 0.3, 1, [0.25, 0.75]])] })),
  percentile: withArray('percentile', (g) => ({ args: [pick(g, [0, 30, 100, [25, 75]])] })),
  nanmedian: withArray('nanmedian', () => ({ args: [] })),
  cov: withArray('cov', () => ({ args: [] })),
  corrcoef: withArray('corrcoef', () => ({ args: [] })),
  bincount: (g) => {
    const x = operand(g, [int(g, 0, 6)], 'int32');
    return { fn: 'bincount', args: [np.abs(x.value as NDArray), { length: int(g, 0, 6) }] };
  },
  histogram: withArray('histogram', (g) => ({ args: [{ bins: int(g, 1, 4), range: [-1, 1] }] })),
  // Data-dependent shapes take JAX's static size (under jit they must).
  nonzero: withArray('nonzero', (g) => ({ args: [{ size: int(g, 0, 4) }] })),
  flatnonzero: withArray('flatnonzero', (g) => ({ args: [{ size: int(g, 0, 4) }] })),
  argwhere: withArray('argwhere', (g) => ({ args: [{ size: int(g, 0, 4) }] })),
  unique: withArray('unique', (g) => ({ args: [{ size: int(g, 0, 4) }] })),
  select: (g) => {
    const x = operand(g);
    return { fn: 'select', args: [[x.value], [x.value], 0] };
  },
  partition: withArray('partition', (g, x) => ({
    args: [0],
    invalid: x.shape.length === 0 || x.shape[x.shape.length - 1] === 0 ? 'no element 0' : undefined,
  })),
  argpartition: withArray('argpartition', (g, x) => ({
    args: [0],
    invalid: x.shape.length === 0 || x.shape[x.shape.length - 1] === 0 ? 'no element 0' : undefined,
  })),
  hstack: (g) => ((x) => ({ fn: 'hstack', args: [[x.value, operand(g, x.shape, x.dtype).value]] }))(operand(g)),
  vstack: (g) => ((x) => ({ fn: 'vstack', args: [[x.value, operand(g, x.shape, x.dtype).value]] }))(operand(g)),
  rowStack: (g) => ((x) => ({ fn: 'rowStack', args: [[x.value, operand(g, x.shape, x.dtype).value]] }))(operand(g)),
  dstack: (g) => ((x) => ({ fn: 'dstack', args: [[x.value, operand(g, x.shape, x.dtype).value]] }))(operand(g)),
  columnStack: (g) =>
    ((x) => ({ fn: 'columnStack', args: [[x.value, operand(g, x.shape, x.dtype).value]] }))(operand(g)),
  meshgrid: (g) => ({ fn: 'meshgrid', args: [[operand(g, [int(g, 0, 3)]).value, operand(g, [int(g, 0, 3)]).value]] }),
  arraySplit: withArray('arraySplit', (g, x) => {
    const n = size(g, 3);
    const a = axisArg(g, x.shape.length);
    return { args: [n.v, { axis: a.v }], invalid: firstInvalid(n, a) ?? (n.v === 0 ? 'zero sections' : undefined) };
  }),
  hsplit: withArray('hsplit', () => ({ args: [1] })),
  vsplit: withArray('vsplit', () => ({ args: [1] })),
  dsplit: withArray('dsplit', () => ({ args: [1] })),
  unstack: withArray('unstack', (g, x) =>
    ((a) => ({ args: [{ axis: a.v }], invalid: a.invalid }))(axisArg(g, x.shape.length)),
  ),
  rot90: withArray('rot90', (g, x) => ({
    args: [int(g, -2, 3)],
    invalid: x.shape.length < 2 ? 'under 2-d' : undefined,
  })),
  flipud: withArray('flipud', (g, x) => ({ args: [], invalid: x.shape.length < 1 ? '0-d' : undefined })),
  fliplr: withArray('fliplr', (g, x) => ({ args: [], invalid: x.shape.length < 2 ? 'under 2-d' : undefined })),
  diag: withArray('diag', (g, x) => ({
    args: [int(g, -1, 1)],
    invalid: x.shape.length === 0 || x.shape.length > 2 ? 'not 1-d or 2-d' : undefined,
  })),
  diagonal: withArray('diagonal', (g, x) => ({ args: [], invalid: x.shape.length < 2 ? 'under 2-d' : undefined })),
  trace: withArray('trace', (g, x) => ({ args: [], invalid: x.shape.length < 2 ? 'under 2-d' : undefined })),
  identity: (g) => ((n) => ({ fn: 'identity', args: [n.v], invalid: n.invalid }))(size(g)),
  empty: (g) => ((sh) => ({ fn: 'empty', args: [sh.v], invalid: sh.invalid }))(shapeArg(g)),
  logspace: (g) => ({ fn: 'logspace', args: [0, 2, int(g, 0, 5)] }),
  geomspace: (g) => ({ fn: 'geomspace', args: [1, 100, int(g, 0, 5)] }),
  triuIndices: (g) => ({ fn: 'triuIndices', args: [int(g, 0, 4)] }),
  trilIndices: (g) => ({ fn: 'trilIndices', args: [int(g, 0, 4)] }),
  indices: (g) => ({ fn: 'indices', args: [shape(g, 3)] }),
  vander: withArray('vander', (g, x) => ({ args: [], invalid: x.shape.length !== 1 ? 'not 1-d' : undefined })),
  topK: withArray('topK', (g, x) => {
    const k = int(g, 0, 3);
    const n = x.shape[x.shape.length - 1];
    return { args: [k], invalid: x.shape.length === 0 || k > n ? 'k past the last axis' : undefined };
  }),
  trapezoid: withArray('trapezoid', (g, x) => ({ args: [], invalid: x.shape.length === 0 ? '0-d' : undefined })),
};

// ---------------------------------------------------------------- x.at(...): numpy's indexing

type AtEntry = number | null | string | number[] | NDArray;
/**
 * A random index for `x.at(...)`: per axis an integer, null, a slice string, an integer list or a
 * boolean mask (at most one list or mask, so the plain-JS reference stays short), sometimes out of range.
 */
function atIndex(g: Gen, shape: number[]): { index: AtEntry[]; invalid?: string; ref?: (x: Operand) => Expected } {
  const index: AtEntry[] = [];
  let invalid: string | undefined;
  let arrays = 0;
  let masked = false;
  for (const n of shape.slice(0, int(g, 0, shape.length))) {
    const k = int(g, 0, 9);
    if (k < 2) index.push(null);
    else if (k < 4) {
      const i = int(g, -n - 1, n);
      if (i < -n || i >= n) invalid ??= `index ${i} out of range`;
      index.push(i);
    } else if (k < 6) index.push(pick(g, [':', '1:', '::-1', '-2:', ':1', '::2']));
    else if (k < 8 || arrays > 0) {
      if (arrays > 0) {
        index.push(null);
        continue;
      }
      arrays++;
      const list = Array.from({ length: int(g, 0, 4) }, () => int(g, -n, Math.max(0, n - 1)));
      if (n === 0 && list.length) invalid ??= 'index into an empty axis';
      index.push(list);
    } else {
      arrays++;
      masked = true;
      const len = chance(g, 0.1) ? n + 1 : n;
      if (len !== n) invalid ??= 'mask of the wrong length';
      index.push(
        np.array(
          Array.from({ length: len }, () => chance(g, 0.5)),
          { dtype: 'bool' },
        ),
      );
    }
  }
  if (chance(g, 0.05)) return { index: [...shape.map(() => null), 0], invalid: 'too many indices' };
  if (chance(g, 0.03)) return { index: [[0.5]], invalid: 'fractional index' };
  return { index, invalid, ref: invalid || masked ? undefined : (x) => atReference(x, index) };
}

/** numpy's x[index] for integers, nulls, slice strings and at most one integer list. */
function atReference(x: Operand, index: AtEntry[]): Expected {
  const axes = x.shape.map((n, d) => {
    const e = index[d] ?? null;
    if (e === null) return { picks: [...Array(n).keys()], kind: 'keep' as const };
    if (typeof e === 'number') return { picks: [e < 0 ? e + n : e], kind: 'int' as const };
    if (Array.isArray(e)) return { picks: e.map((i) => (i < 0 ? i + n : i)), kind: 'list' as const };
    const [a, b, c] = (e as string).split(':').map((p) => (p === '' ? null : Number(p)));
    const step = c ?? 1;
    const norm = (v: number | null, dflt: number, lo: number, hi: number) =>
      v === null ? dflt : Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    const start = step > 0 ? norm(a, 0, 0, n) : norm(a, n - 1, -1, n - 1);
    const stop = step > 0 ? norm(b, n, 0, n) : norm(b, -1, -1, n - 1);
    const picks: number[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) picks.push(i);
    return { picks, kind: 'keep' as const };
  });
  const hasList = axes.some((a) => a.kind === 'list');
  // With a list, integers are index arrays too: adjacent ones keep their place, separated ones go first.
  const adv = axes.flatMap((a, d) => (a.kind === 'list' || (hasList && a.kind === 'int') ? [d] : []));
  const adjacent = adv.length === 0 || adv[adv.length - 1] - adv[0] === adv.length - 1;
  const listLen = axes.find((a) => a.kind === 'list')?.picks.length ?? 1;
  // Result axes: [which, count]; 'adv' is the broadcast list axis.
  const resultAxes: ('adv' | number)[] = [];
  axes.forEach((a, d) => {
    if (adv.includes(d)) {
      if (d === adv[0] && adjacent) resultAxes.push('adv');
    } else if (a.kind === 'keep') resultAxes.push(d);
  });
  if (hasList && !adjacent) resultAxes.unshift('adv');
  const shape = resultAxes.map((r) => (r === 'adv' ? listLen : axes[r].picks.length));
  const strides = x.shape.map((_, d) => x.shape.slice(d + 1).reduce((p, q) => p * q, 1));
  const data: number[] = [];
  const total = shape.reduce((p, q) => p * q, 1);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    const coord = shape.map((_, i) => {
      const inner = shape.slice(i + 1).reduce((p, q) => p * q, 1);
      const c = Math.floor(rest / inner);
      rest %= inner;
      return c;
    });
    let pos = 0;
    axes.forEach((a, d) => {
      const r = resultAxes.indexOf(adv.includes(d) ? 'adv' : d);
      const i = a.kind === 'int' ? a.picks[0] : a.picks[coord[r]];
      pos += i * strides[d];
    });
    data.push(x.data[pos]);
  }
  return { shape, data };
}

const atMethods: Record<string, Maker> = Object.fromEntries(
  (['get', 'set', 'add'] as const).map((mode) => [
    `at.${mode}`,
    (g: Gen): Case => {
      const x = operand(g, shape(g), pick(g, ['float32', 'int32']));
      if (!(x.value instanceof Object && 'dataSync' in (x.value as object)))
        return { fn: `at.${mode}`, args: [np.zeros([1]), [], 1] };
      const { index, invalid, ref } = atIndex(g, x.shape);
      const expected = mode === 'get' && ref ? () => ref(x) : undefined;
      return { fn: `at.${mode}`, args: [x.value, index, mode === 'get' ? undefined : 2], invalid, expected };
    },
  ]),
);

/** Every `np` function and how to call it. */
export const signatures: Record<string, Maker> = {
  ...Object.fromEntries(Object.keys(unaryRefs).map((k) => [k, unary(k)])),
  ...Object.fromEntries(Object.keys(binaryRefs).map((k) => [k, binary(k)])),
  ...Object.fromEntries(Object.keys(reductions).map((k) => [k, reduction(k)])),
  ...creation,
  ...shapes,
  ...breadth,
};

/** The common nn.functional functions, fuzzed the same way. */
export const functional: Record<string, Maker> = {
  relu: unaryOf('relu', (x) => Math.max(0, x)),
  softmax: withArrayFn('softmax'),
  logSoftmax: withArrayFn('logSoftmax'),
  gelu: unaryOf('gelu', null),
  softplus: unaryOf('softplus', null),
};
function unaryOf(name: string, f: ((x: number) => number) | null): Maker {
  return (g) => {
    const x = operand(g, shape(g), 'float32');
    return maybeBad(g, { fn: `nn.${name}`, args: [x.value], expected: f ? () => elementwise([x], f)! : undefined }, 0);
  };
}
function withArrayFn(name: string): Maker {
  return (g) => {
    const x = operand(g, shape(g), 'float32');
    const a = axisOpt(g, x.shape.length, false);
    return maybeBad(
      g,
      {
        fn: `nn.${name}`,
        args: [x.value, ...(a.axis !== undefined ? [a.axis] : [])],
        invalid: a.invalid ?? (x.shape.length === 0 ? 'softmax of a 0-d array' : undefined),
      },
      0,
    );
  };
}

/**
 * An accumulation over values near float32's limits (beyond 1e30, or denormal): its result
 * depends on the order of the float32 operations, which numpy, ONNX Runtime and the eager
 * kernels each choose differently, so no order is the reference.
 */
function nearLimits(c: Case): boolean {
  if (!accumulating.has(c.fn)) return false;
  const extreme = (v: number) => Math.abs(v) > 1e30 || (v !== 0 && Math.abs(v) < 1.18e-38);
  return c.args.some(
    (a) => a instanceof Object && 'dataSync' in (a as object) && [...(a as NDArray).dataSync()].some(extreme),
  );
}

// ---------------------------------------------------------------- running a case

const callable = (fn: string): ((...a: unknown[]) => unknown) =>
  fn.startsWith('at.')
    ? (x, index, v) => (x as NDArray).at(...(index as AtEntry[]))[fn.slice(3) as 'set'](v as number)
    : fn.startsWith('nn.')
      ? (nn.functional as any)[fn.slice(3)]
      : (np as any)[fn];

/** Flat numbers and shape of a result (an array, or a list of arrays concatenated flat). */
function flatResult(r: unknown): Expected | null {
  if (r instanceof Object && 'dataSync' in (r as object)) {
    const a = r as NDArray;
    return { shape: [...a.shape], data: [...a.dataSync()].map(Number) };
  }
  if (Array.isArray(r) && r.every((x) => x instanceof Object && 'dataSync' in x)) {
    const parts = r.map((x) => flatResult(x)!);
    return { shape: [parts.length], data: parts.flatMap((p) => [...p.shape, ...p.data]) };
  }
  return null;
}
function close(a: Expected, b: Expected, rtol: number, atol: number): string | null {
  if (a.shape.join() !== b.shape.join()) return `shape (${a.shape}) vs (${b.shape})`;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i],
      y = b.data[i];
    if (Object.is(x, y) || x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x - y) > atol + rtol * Math.abs(y))
      return `element ${i}: ${x} vs ${y}`;
  }
  return null;
}

export interface Result {
  outcome: Outcome;
  detail?: string;
}

/** Runs one case: eager, then (for valid array results) the reference, jit, vmap and grad. */
export function runCase(c: Case): Result {
  const f = callable(c.fn);
  let out: unknown;
  try {
    out = f(...c.args);
  } catch (e) {
    if (e instanceof FluxionError) return { outcome: 'FluxionError' };
    return { outcome: 'generic error', detail: `${(e as Error).name}: ${(e as Error).message.slice(0, 120)}` };
  }
  if (c.invalid) return { outcome: 'accepted invalid input', detail: c.invalid };
  const got = flatResult(out);
  if (!got) return { outcome: 'value' };
  if (c.expected) {
    const want = c.expected();
    const why = want && close(got, { shape: want.shape, data: want.data.map(Math.fround) }, 2e-5, 1e-6);
    if (why) return { outcome: nearLimits(c) ? 'documented deviation' : 'wrong result', detail: why };
  }
  const agree = transformsAgree(c, f, got);
  return agree.outcome === 'transform disagrees' && (documented(c.fn, agree.detail ?? '') || nearLimits(c))
    ? { outcome: 'documented deviation', detail: agree.detail }
    : agree;
}

/** jit, vmap (of two copies) and grad agree with eager; array arguments become the traced ones. */
function transformsAgree(c: Case, f: (...a: unknown[]) => unknown, eager: Expected): Result {
  const slots = c.args
    .map((a, i) => (a instanceof Object && 'dataSync' in (a as object) ? i : -1))
    .filter((i) => i >= 0);
  if (!slots.length) return { outcome: 'value' };
  const withArrays = (xs: NDArray[]) => c.args.map((a, i) => (slots.includes(i) ? xs[slots.indexOf(i)] : a));
  const arrays = slots.map((i) => c.args[i] as NDArray);
  const check = (what: string, run: () => unknown, want: Expected, rtol = 1e-5, atol = 0): Result | null => {
    let r: unknown;
    try {
      r = run();
    } catch (e) {
      return {
        outcome: 'transform disagrees',
        detail: `${what} threw ${(e as Error).name}: ${(e as Error).message.slice(0, 100)}`,
      };
    }
    const got = flatResult(r);
    const why = got ? close(got, want, rtol, Math.max(1e-5, atol)) : `${what} returned no array`;
    return why ? { outcome: 'transform disagrees', detail: `${what}: ${why}` } : null;
  };
  // Accumulations may round differently in another order: allow float32 rounding of the largest partial sum.
  const scale = accumulating.has(c.fn)
    ? arrays.reduce((m, a) => m + [...a.dataSync()].reduce((t, v) => t + (Number.isFinite(v) ? Math.abs(v) : 0), 0), 0)
    : 0;
  // float16/bfloat16 are rounded after every operation on both paths, but an operation's own
  // float32 steps may differ by a unit in the last place of the narrow dtype.
  const half = arrays.some((a) => isHalf(a.dtype));
  const viaJit = check(
    'jit',
    () => jit((...xs: NDArray[]) => f(...withArrays(xs)) as NDArray)(...arrays),
    eager,
    half ? 1.6e-2 : 2e-5,
    scale * (half ? 1e-2 : 1e-6),
  );
  if (viaJit) return viaJit;
  const first = arrays[0];
  if (flatResult(f(...c.args))?.shape && !Array.isArray(f(...c.args))) {
    const twice = np.stack([first, first]);
    const rest = arrays.slice(1);
    const viaVmap = check('vmap', () => vmap((x: NDArray) => f(...withArrays([x, ...rest])) as NDArray)(twice), {
      shape: [2, ...eager.shape],
      data: [...eager.data, ...eager.data],
    });
    if (viaVmap) return viaVmap;
    if (first.dtype === 'float32' && (f(...c.args) as NDArray).dtype === 'float32') {
      const loss = (x: NDArray) => np.sum(f(...withArrays([x, ...rest])) as NDArray);
      let g: Expected | null = null;
      try {
        g = flatResult(grad(loss)(first));
      } catch (e) {
        if (!(e instanceof FluxionError))
          return { outcome: 'generic error', detail: `grad: ${(e as Error).message.slice(0, 100)}` };
      }
      if (g) {
        const viaJitGrad = check('jit(grad)', () => jit(grad(loss))(first), g, 1e-4);
        if (viaJitGrad) return viaJitGrad;
      }
    }
  }
  return { outcome: 'value' };
}

/** `n` cases from a fixed seed, cycling through every function so each gets its share. */
export function makeCases(seed: number, n: number): Case[] {
  const makers = Object.entries({ ...signatures, ...functional, ...atMethods });
  const gens = fc.sample(fc.gen(), { seed, numRuns: n });
  return gens.map((g, i) => makers[i % makers.length][1](g));
}

/** Names of `np` functions without a fuzz signature (must be empty). */
export const unsigned = (): string[] =>
  Object.keys(np).filter((k) => typeof (np as any)[k] === 'function' && !(k in signatures));

/** Runs cases and tallies the outcomes, keeping a few examples of each. */
export function campaign(cases: Case[]): { counts: Record<Outcome, number>; examples: Record<string, string[]> } {
  const counts = {
    'wrong result': 0,
    'generic error': 0,
    'accepted invalid input': 0,
    'transform disagrees': 0,
    'documented deviation': 0,
    value: 0,
    FluxionError: 0,
  } as Record<Outcome, number>;
  const examples: Record<string, string[]> = {};
  const trace = typeof process !== 'undefined' && process.env.FUZZ_TRACE;
  for (const c of cases) {
    if (trace) process.stderr.write(`${c.fn}(${describeArgs(c.args)})\n`);
    const r = runCase(c);
    counts[r.outcome]++;
    if (r.outcome !== 'value' && r.outcome !== 'FluxionError') {
      const list = (examples[`${r.outcome}: ${c.fn}`] ??= []);
      if (list.length < 3) list.push(`${describeArgs(c.args)} -> ${r.detail}`);
    }
  }
  return { counts, examples };
}

const describeArgs = (args: unknown[]) =>
  args
    .map((a) =>
      a instanceof Object && 'dataSync' in (a as object)
        ? `${(a as NDArray).dtype}[${(a as NDArray).shape}]`
        : (JSON.stringify(a)?.slice(0, 40) ?? String(a)),
    )
    .join(', ');
