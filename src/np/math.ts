/**
 * Elementwise math with numpy broadcasting and promotion.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { type DType, isFloat } from '../core/dtype.js';
import { DTypeError } from '../core/errors.js';
import { checkOptions, codecs } from '../core/options.js';
import type { Primitive } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo, prepare } from './convert.js';
import { broadcastShapes } from '../core/shape.js';

const binary =
  (name: string, prim: Primitive, floatOnly = false, onBools?: Primitive) =>
  (x: ArrayLike, y: ArrayLike): Array => {
    let [a, b] = prepare(name, [x, y]);
    if (onBools && a.dtype === 'bool') return bind1(onBools, [a, b]);
    if (floatOnly && !isFloat(a.dtype)) [a, b] = [P.cast(a, 'float32'), P.cast(b, 'float32')];
    return bind1(prim, [a, b]);
  };
const unary =
  (name: string, prim: Primitive, floatOnly = true) =>
  (x: ArrayLike): Array => {
    let a = asArray(x);
    if (floatOnly && !isFloat(a.dtype)) a = P.cast(a, 'float32');
    return bind1(prim, [a]);
  };

/** `x + y` elementwise with broadcasting (logical or for bools, as NumPy). @example np.add([1, 2], 1) // [2, 3] @category Math */
export const add = binary('add', P.addP, false, P.orP);
/** `x - y` elementwise. @category Math */
export const subtract = binary('subtract', P.subP);
/** `x * y` elementwise (logical and for bools). @category Math */
export const multiply = binary('multiply', P.mulP, false, P.andP);
/** True division `x / y` (integers divide as float32). @category Math */
export const divide = binary('divide', P.divP, true);
const floatPower_ = binary('power', P.powP, true);
/**
 * `x ** y`: floats in floating point; integers exactly in their dtype (wrapping as NumPy's), by
 * repeated squaring over the exponent's bits. A negative integer exponent gives 0 (1 for bases
 * ±1), as C's integer division would; NumPy refuses it, which a jitted function cannot.
 * @category Math
 */
export function power(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('power', [x, y]);
  if (isFloat(a.dtype) || a.dtype === 'bool') return floatPower_(a, b);
  const one = P.fullLike(a, 1);
  let result = one,
    base = a,
    e = P.max(b, P.zerosLike(b));
  const bits = a.dtype.endsWith('8') ? 8 : a.dtype.endsWith('16') ? 16 : 32;
  for (let i = 0; i < bits; i++) {
    const odd = P.ne(bind1(P.andP, [e, P.fullLike(e, 1)]), P.zerosLike(e));
    result = P.select(odd, P.mul(result, base), result);
    base = P.mul(base, base);
    e = bind1(P.shiftRightLogicalP, [e, P.fullLike(e, 1)]);
  }
  const negative = P.lt(b, P.zerosLike(b));
  const unitBase = P.eq(P.mul(a, a), one);
  const oddExp = P.ne(bind1(P.andP, [b, P.fullLike(b, 1)]), P.zerosLike(b));
  const negResult = P.select(unitBase, P.select(oddExp, a, one), P.zerosLike(a));
  return P.select(negative, negResult, result);
}
/** Alias of {@link power}. @category Math */
export const pow = power;
/** Elementwise maximum (NaN propagates). @category Math */
export const maximum = binary('maximum', P.maxP);
/** Elementwise minimum (NaN propagates). @category Math */
export const minimum = binary('minimum', P.minP);
/** `atan2(y, x)` elementwise. @category Math */
export const arctan2 = binary('arctan2', P.atan2P, true);

/**
 * Python-style floor division, rounding toward negative infinity. Floats follow NumPy's divmod:
 * `(x − fmod(x, y)) / y` corrected by one where the remainder's sign differs from y's, so
 * `1 // 0.1` is 9, `1 // -inf` is -1 and `inf // 1` is NaN, as in NumPy.
 * @category Math
 */
export function floorDivide(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('floorDivide', [x, y]);
  const zero = P.zerosLike(a);
  if (isFloat(a.dtype)) {
    const mod = bind1(P.remP, [a, b]);
    let div = P.div(P.sub(a, mod), b);
    const fix = bind1(P.andP, [P.ne(mod, zero), P.ne(P.lt(b, zero), P.lt(mod, zero))]);
    div = P.select(fix, P.sub(div, P.fullLike(div, 1)), div);
    let floored = bind1(P.floorP, [div]);
    floored = P.select(P.gt(P.sub(div, floored), P.fullLike(div, 0.5)), P.add(floored, P.fullLike(div, 1)), floored);
    // A zero quotient keeps the sign of a / b; division by zero is a / b (inf or NaN).
    const signedZero = P.mul(P.div(a, b), zero);
    const q = P.select(P.eq(div, zero), signedZero, floored);
    return P.select(P.eq(b, zero), P.div(a, b), q);
  }
  const q = P.div(a, b);
  const r = bind1(P.remP, [a, b]);
  const adjust = bind1(P.andP, [P.ne(r, zero), P.ne(P.lt(r, zero), P.lt(b, zero))]);
  return P.select(adjust, P.sub(q, P.fullLike(q, 1)), q);
}
/** Python-style remainder: the result has the sign of the divisor. @category Math */
export function remainder(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('remainder', [x, y]);
  const r = bind1(P.remP, [a, b]);
  const zero = P.zerosLike(r);
  const adjust = bind1(P.andP, [P.ne(r, zero), P.ne(P.lt(r, zero), P.lt(b, zero))]);
  return P.select(adjust, P.add(r, b), r);
}
/** Alias of {@link remainder}. @category Math */
export const mod = remainder;

/** `-x`. @category Math */
export const negative = (x: ArrayLike): Array => P.neg(asArray(x));
/** `x * x`. @category Math */
export const square = (x: ArrayLike): Array => {
  const a = asArray(x);
  return P.mul(a, a);
};
/** `1 / x`. @category Math */
export const reciprocal = (x: ArrayLike): Array => divide(1, x);
/** e^x. @category Math */ export const exp = unary('exp', P.expP);
/** Natural logarithm. @category Math */ export const log = unary('log', P.logP);
/** log(1 + x), accurate near 0. @category Math */ export const log1p = unary('log1p', P.log1pP);
/** e^x - 1, accurate near 0. @category Math */ export const expm1 = unary('expm1', P.expm1P);
/** Square root. @category Math */ export const sqrt = unary('sqrt', P.sqrtP);
/** 1 / sqrt(x). @category Math */ export const rsqrt = unary('rsqrt', P.rsqrtP);
/** Sine. @category Math */ export const sin = unary('sin', P.sinP);
/** Cosine. @category Math */ export const cos = unary('cos', P.cosP);
/** Tangent. @category Math */ export const tan = (x: ArrayLike): Array => divide(sin(x), cos(x));
/** Hyperbolic tangent. @category Math */ export const tanh = unary('tanh', P.tanhP);
/** The error function. @category Math */ export const erf = unary('erf', P.erfP);
/** Inverse of erf on (-1, 1). @category Math */ export const erfinv = unary('erfinv', P.erfInvP);
/** Logistic sigmoid 1/(1+e^-x). @category Math */ export const sigmoid = unary('sigmoid', P.logisticP);
const absOf = unary('abs', P.absP, false);
/** Absolute value (bools unchanged). @category Math */
export const abs = (x: ArrayLike): Array => {
  const a = asArray(x);
  return a.dtype === 'bool' ? a : absOf(a);
};
/** Sign: -1, 0 or 1 (NaN stays NaN). @category Math */ export const sign = unary('sign', P.signP, false);
/** A rounding function: integers are already whole and come back unchanged (as JAX), in their dtype. */
const rounding = (name: string, prim: Primitive) => {
  const f = unary(name, prim);
  return (x: ArrayLike): Array => {
    const a = asArray(x);
    return isFloat(a.dtype) || a.dtype === 'bool' ? f(a) : a;
  };
};
/** Rounds down (integers unchanged). @category Math */ export const floor = rounding('floor', P.floorP);
/** Rounds up (integers unchanged). @category Math */ export const ceil = rounding('ceil', P.ceilP);
/** Rounds half to even (integers unchanged). @category Math */ export const round = rounding('round', P.roundP);
/** Is each element finite (not inf, not NaN)? @category Math */
export const isfinite = (x: ArrayLike): Array => {
  const a = asArray(x);
  return isFloat(a.dtype) ? bind1(P.isFiniteP, [a]) : P.eq(a, a);
};
/** Is each element NaN? @category Math */
export const isnan = (x: ArrayLike): Array => P.ne(asArray(x), asArray(x));

/** Clamps into `[lo, hi]` (either bound may be omitted with `null`). @category Math */
export function clip(x: ArrayLike, lo: ArrayLike | null, hi: ArrayLike | null): Array {
  let y = asArray(x);
  if (lo !== null) y = maximum(y, lo);
  if (hi !== null) y = minimum(y, hi);
  return y;
}

const compare =
  (name: string, prim: Primitive) =>
  (x: ArrayLike, y: ArrayLike): Array =>
    bind1(prim, prepare(name, [x, y]));
/** `x == y` elementwise (bool). @category Logic */ export const equal = compare('equal', P.eqP);
/** `x != y` elementwise. @category Logic */ export const notEqual = compare('notEqual', P.neP);
/** `x < y` elementwise. @category Logic */ export const less = compare('less', P.ltP);
/** `x <= y` elementwise. @category Logic */ export const lessEqual = compare('lessEqual', P.leP);
/** `x > y` elementwise. @category Logic */ export const greater = compare('greater', P.gtP);
/** `x >= y` elementwise. @category Logic */ export const greaterEqual = compare('greaterEqual', P.geP);

const logical =
  (name: string, prim: Primitive) =>
  (x: ArrayLike, y: ArrayLike): Array =>
    bind1(prim, prepare(name, [x, y], 'bool'));
/** Logical and (operands converted to bool). @category Logic */ export const logicalAnd = logical(
  'logicalAnd',
  P.andP,
);
/** Logical or. @category Logic */ export const logicalOr = logical('logicalOr', P.orP);
/** Logical xor. @category Logic */ export const logicalXor = logical('logicalXor', P.xorP);
/** Logical not. @category Logic */ export const logicalNot = (x: ArrayLike): Array =>
  bind1(P.notP, [asArray(x, 'bool')]);
/** Bitwise and of integer arrays. @category Logic */ export const bitwiseAnd = compare('bitwiseAnd', P.andP);
/** Bitwise or. @category Logic */ export const bitwiseOr = compare('bitwiseOr', P.orP);
/** Bitwise xor. @category Logic */ export const bitwiseXor = compare('bitwiseXor', P.xorP);

/**
 * Picks `x` where `cond` is true and `y` elsewhere, with broadcasting.
 * @example np.where(np.greater(x, 0), x, 0) // relu
 * @category Logic
 */
export function where(cond: ArrayLike, x: ArrayLike, y: ArrayLike): Array {
  const c = asArray(cond, 'bool');
  const [a, b] = prepare('where', [x, y]);
  const shape = broadcastShapes('where', c.shape, a.shape);
  return P.select(broadcastTo(c, shape), broadcastTo(a, shape), broadcastTo(b, shape));
}

/** Converts to `dtype`. @category Math */
export const astype = (x: ArrayLike, dtype: DType): Array => P.cast(asArray(x), dtype);

/** Blocks gradients: the value passes, its derivative is zero. @category Math */
export const stopGradient = (x: ArrayLike): Array => bind1(P.stopGradientP, [asArray(x)]);

// ---------------------------------------------------------------- more elementwise math (composites)

const float = (x: ArrayLike): Array => {
  const a = asArray(x);
  return isFloat(a.dtype) ? a : P.cast(a, 'float32');
};
const full = (like: Array, v: number) => P.fullLike(like, v);
/** Both operands promoted to one float dtype and broadcast. */
const floats = (name: string, x: ArrayLike, y: ArrayLike): [Array, Array] => {
  const [a, b] = prepare(name, [x, y]);
  return isFloat(a.dtype) ? [a, b] : [P.cast(a, 'float32'), P.cast(b, 'float32')];
};

/** Inverse sine on [-1, 1]. @category Math */
export const arcsin = (x: ArrayLike): Array => {
  const a = float(x);
  return arctan2(a, sqrt(P.sub(full(a, 1), P.mul(a, a))));
};
/** Inverse cosine on [-1, 1]. @category Math */
export const arccos = (x: ArrayLike): Array => {
  const a = float(x);
  return arctan2(sqrt(P.sub(full(a, 1), P.mul(a, a))), a);
};
/** Inverse tangent. @category Math */
export const arctan = (x: ArrayLike): Array => {
  const a = float(x);
  return arctan2(a, full(a, 1));
};
/** Hyperbolic sine: accurate near 0 and finite up to where the result overflows. @category Math */
export const sinh = (x: ArrayLike): Array => {
  const a = float(x);
  const m = abs(a);
  const small = P.mul(P.sub(expm1(a), expm1(P.neg(a))), full(a, 0.5));
  // e^|x| / 2 as e^(|x| − ln 2): e^|x| alone overflows before sinh does.
  const large = P.mul(P.sign(a), P.sub(P.exp(P.sub(m, full(m, Math.LN2))), P.mul(P.exp(P.neg(m)), full(m, 0.5))));
  return P.select(P.lt(m, full(m, 1)), small, large);
};
/** Hyperbolic cosine, finite up to where the result overflows. @category Math */
export const cosh = (x: ArrayLike): Array => {
  const a = float(x);
  const m = abs(a);
  return P.add(P.exp(P.sub(m, full(m, Math.LN2))), P.mul(P.exp(P.neg(m)), full(m, 0.5)));
};
/** Inverse hyperbolic sine (log(|x| + sqrt(x² + 1)), signed; large |x| without overflow). @category Math */
export const arcsinh = (x: ArrayLike): Array => {
  const a = float(x);
  const m = abs(a);
  const big = P.gt(m, full(m, 1e8));
  const safe = P.select(big, P.zerosLike(m), m);
  const small = log1p(
    P.add(safe, P.div(P.mul(safe, safe), P.add(full(m, 1), sqrt(P.add(P.mul(safe, safe), full(m, 1)))))),
  );
  const large = P.add(log(P.select(big, m, full(m, 1))), full(m, Math.LN2));
  return P.mul(P.sign(a), P.select(big, large, small));
};
/** Inverse hyperbolic cosine on [1, inf). @category Math */
export const arccosh = (x: ArrayLike): Array => {
  const a = float(x);
  const big = P.gt(a, full(a, 1e8));
  const safe = P.select(big, full(a, 1), a);
  const small = log(P.add(safe, P.mul(sqrt(P.sub(safe, full(a, 1))), sqrt(P.add(safe, full(a, 1))))));
  return P.select(big, P.add(log(P.select(big, a, full(a, 1))), full(a, Math.LN2)), small);
};
/** Inverse hyperbolic tangent on (-1, 1). @category Math */
export const arctanh = (x: ArrayLike): Array => {
  const a = float(x);
  return P.mul(P.sub(log1p(a), log1p(P.neg(a))), full(a, 0.5));
};
/** Base-2 logarithm. @category Math */
export const log2 = (x: ArrayLike): Array => {
  const a = float(x);
  return P.div(log(a), full(a, Math.LN2));
};
/** Base-10 logarithm. @category Math */
export const log10 = (x: ArrayLike): Array => {
  const a = float(x);
  return P.div(log(a), full(a, Math.LN10));
};
/** 2^x. @category Math */
export const exp2 = (x: ArrayLike): Array => {
  const a = float(x);
  return P.pow(full(a, 2), a);
};
/** Cube root (real, signed). @category Math */
export const cbrt = (x: ArrayLike): Array => {
  const a = float(x);
  return P.mul(P.sign(a), P.pow(abs(a), full(a, 1 / 3)));
};
/** Rounds toward zero (integers unchanged). @category Math */
export const trunc = (x: ArrayLike): Array => {
  const a = asArray(x);
  if (!isFloat(a.dtype)) return a;
  return P.select(P.lt(a, P.zerosLike(a)), bind1(P.ceilP, [a]), bind1(P.floorP, [a]));
};
/** Alias of {@link trunc}. @category Math */
export const fix = trunc;
/** Rounds half to even (alias of {@link round}). @category Math */
export const rint = (x: ArrayLike): Array => round(x);
/** Alias of {@link abs}. @category Math */
export const absolute = abs;
/** `+x` (a copy). @category Math */
export const positive = (x: ArrayLike): Array => asArray(x);
/** Is the sign bit set (negative numbers, -0 and negative NaN payloads aside)? @category Math */
export const signbit = (x: ArrayLike): Array => {
  const a = asArray(x);
  if (!isFloat(a.dtype)) return P.lt(a, P.zerosLike(a));
  // -0 has 1 / x = -inf.
  return bind1(P.orP, [
    P.lt(a, P.zerosLike(a)),
    bind1(P.andP, [P.eq(a, P.zerosLike(a)), P.lt(P.div(full(a, 1), a), P.zerosLike(a))]),
  ]);
};
/** Is each element +inf or -inf? @category Math */
export const isinf = (x: ArrayLike): Array => {
  const a = asArray(x);
  return isFloat(a.dtype) ? P.eq(abs(a), full(a, Infinity)) : P.ne(a, a);
};
/** Is each element +inf? @category Math */
export const isposinf = (x: ArrayLike): Array => {
  const a = asArray(x);
  return isFloat(a.dtype) ? P.eq(a, full(a, Infinity)) : P.ne(a, a);
};
/** Is each element -inf? @category Math */
export const isneginf = (x: ArrayLike): Array => {
  const a = asArray(x);
  return isFloat(a.dtype) ? P.eq(a, full(a, -Infinity)) : P.ne(a, a);
};
/**
 * NaN replaced by `nan` (0), infinities by `posinf`/`neginf` (the dtype's largest finite values).
 * @category Math
 */
export function nanToNum(x: ArrayLike, opts?: { nan?: number; posinf?: number; neginf?: number }): Array {
  const o = checkOptions('nanToNum', { nan: codecs.number, posinf: codecs.number, neginf: codecs.number }, opts);
  const a = asArray(x);
  if (!isFloat(a.dtype)) return a;
  const big = highestFinite(a.dtype);
  let y = P.select(P.ne(a, a), full(a, o.nan ?? 0), a);
  y = P.select(P.eq(y, full(a, Infinity)), full(a, o.posinf ?? big), y);
  return P.select(P.eq(y, full(a, -Infinity)), full(a, o.neginf ?? -big), y);
}
const highestFinite = (d: DType) =>
  ({ float64: Number.MAX_VALUE, float32: 3.4028234663852886e38, float16: 65504, bfloat16: 3.3895313892515355e38 })[
    d as 'float32'
  ] ?? 0;
/** Degrees to radians. @category Math */
export const deg2rad = (x: ArrayLike): Array => {
  const a = float(x);
  return P.mul(a, full(a, Math.PI / 180));
};
/** Radians to degrees. @category Math */
export const rad2deg = (x: ArrayLike): Array => {
  const a = float(x);
  return P.mul(a, full(a, 180 / Math.PI));
};
/** Alias of {@link deg2rad}. @category Math */
export const radians = deg2rad;
/** Alias of {@link rad2deg}. @category Math */
export const degrees = rad2deg;
/** sin(πx)/(πx), 1 at 0 (with a finite derivative there). @category Math */
export const sinc = (x: ArrayLike): Array => {
  const a = float(x);
  const zero = P.eq(a, P.zerosLike(a));
  const safe = P.mul(P.select(zero, full(a, 1), a), full(a, Math.PI));
  return P.select(zero, full(a, 1), P.div(P.sin(safe), safe));
};
/** `sqrt(x² + y²)` without overflow or underflow. @category Math */
export function hypot(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = floats('hypot', x, y);
  const [ma, mb] = [abs(a), abs(b)];
  const hi = P.max(ma, mb),
    lo = P.min(ma, mb);
  const zero = P.eq(hi, P.zerosLike(hi));
  const r = P.div(lo, P.select(zero, full(hi, 1), hi));
  const h = P.mul(hi, sqrt(P.add(full(r, 1), P.mul(r, r))));
  // inf wins over NaN, as in C.
  return P.select(P.eq(hi, full(hi, Infinity)), hi, h);
}
/** C's fmod: the remainder with the sign of the dividend. @category Math */
export function fmod(x: ArrayLike, y: ArrayLike): Array {
  return bind1(P.remP, prepare('fmod', [x, y]));
}
/** `log(exp(x) + exp(y))` without overflow. @category Math */
export function logaddexp(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = floats('logaddexp', x, y);
  const m = P.max(a, b);
  const same = P.eq(a, b); // equal infinities: the result is that infinity
  const d = P.select(same, P.zerosLike(a), P.neg(abs(P.sub(a, b))));
  return P.select(same, P.add(a, full(a, Math.LN2)), P.add(m, log1p(P.exp(d))));
}
/** `log2(2^x + 2^y)` without overflow. @category Math */
export function logaddexp2(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = floats('logaddexp2', x, y);
  const ln2 = (v: Array) => P.mul(v, full(v, Math.LN2));
  return P.div(logaddexp(ln2(a), ln2(b)), full(a, Math.LN2));
}
/** `|x|` with the sign of `y`. @category Math */
export function copysign(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = floats('copysign', x, y);
  return P.select(signbit(b), P.neg(abs(a)), abs(a));
}
/** The Heaviside step: 0 below zero, 1 above, `h0` at zero. @category Math */
export function heaviside(x: ArrayLike, h0: ArrayLike): Array {
  const [a, h] = prepare('heaviside', [x, h0]);
  const zero = P.zerosLike(a);
  const step = P.select(P.eq(a, zero), h, P.select(P.lt(a, zero), zero, P.fullLike(a, 1)));
  return P.select(P.ne(a, a), a, step);
}
/** Elementwise maximum ignoring NaN (NaN only where both are). @category Math */
export function fmax(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('fmax', [x, y]);
  return P.select(P.ne(a, a), b, P.select(P.ne(b, b), a, P.max(a, b)));
}
/** Elementwise minimum ignoring NaN. @category Math */
export function fmin(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('fmin', [x, y]);
  return P.select(P.ne(a, a), b, P.select(P.ne(b, b), a, P.min(a, b)));
}
/** `x ** y` in float64 when either is float64, else float32 (NumPy's float_power uses float64). @category Math */
export function floatPower(x: ArrayLike, y: ArrayLike): Array {
  return power(x, y);
}
/** Alias of {@link divide}. @category Math */
export const trueDivide = divide;
/** Bitwise not of integers (logical not of bools). @category Logic */
export const bitwiseNot = (x: ArrayLike): Array => bind1(P.notP, [asArray(x)]);
/** Alias of {@link bitwiseNot}. @category Logic */
export const invert = bitwiseNot;
/** `x << y` for integers. @category Logic */
export const leftShift = (x: ArrayLike, y: ArrayLike): Array => bind1(P.shiftLeftP, prepare('leftShift', [x, y]));
/** Logical `x >> y` for unsigned integers, arithmetic (rounding down) for signed ones. @category Logic */
export function rightShift(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('rightShift', [x, y]);
  if (a.dtype.startsWith('uint')) return bind1(P.shiftRightLogicalP, [a, b]);
  return floorDivide(a, P.pow(P.fullLike(a, 2), b));
}
/** Greatest common divisor of integers (Euclid's algorithm, unrolled to the dtype's bit width). @category Math */
export function gcd(x: ArrayLike, y: ArrayLike): Array {
  let [a, b] = prepare('gcd', [x, y]);
  if (isFloat(a.dtype) || a.dtype === 'bool') throw new DTypeError(`gcd: expects integers, got ${a.dtype}`);
  [a, b] = [abs(a), abs(b)];
  // Each step at least halves the smaller operand every two steps: 2 · 32 steps reach zero.
  for (let i = 0; i < 64; i++) {
    const zero = P.eq(b, P.zerosLike(b));
    const r = bind1(P.remP, [a, P.select(zero, P.fullLike(b, 1), b)]);
    [a, b] = [P.select(zero, a, b), P.select(zero, b, r)];
  }
  return a;
}
/** Least common multiple of integers. @category Math */
export function lcm(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('lcm', [x, y]);
  const g = gcd(a, b);
  const zero = P.eq(g, P.zerosLike(g));
  return abs(P.mul(P.div(a, P.select(zero, P.fullLike(g, 1), g)), b));
}
