/**
 * Elementwise math with numpy broadcasting and promotion.
 * @module
 */
import type { Array, ArrayLike } from '../core/array.js';
import { type DType, isFloat } from '../core/dtype.js';
import type { Primitive } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import * as P from '../primitives/index.js';
import { asArray, broadcastTo, prepare } from './convert.js';
import { broadcastShapes } from '../core/shape.js';

const binary =
  (name: string, prim: Primitive, floatOnly = false) =>
  (x: ArrayLike, y: ArrayLike): Array => {
    let [a, b] = prepare(name, [x, y]);
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

/** `x + y` elementwise with broadcasting. @example np.add([1, 2], 1) // [2, 3] @category Math */
export const add = binary('add', P.addP);
/** `x - y` elementwise. @category Math */
export const subtract = binary('subtract', P.subP);
/** `x * y` elementwise. @category Math */
export const multiply = binary('multiply', P.mulP);
/** True division `x / y` (integers divide as float32). @category Math */
export const divide = binary('divide', P.divP, true);
/** `x ** y` (computed in floating point). @category Math */
export const power = binary('power', P.powP, true);
/** Alias of {@link power}. @category Math */
export const pow = power;
/** Elementwise maximum (NaN propagates). @category Math */
export const maximum = binary('maximum', P.maxP);
/** Elementwise minimum (NaN propagates). @category Math */
export const minimum = binary('minimum', P.minP);
/** `atan2(y, x)` elementwise. @category Math */
export const arctan2 = binary('arctan2', P.atan2P, true);

/** Python-style floor division: rounds toward negative infinity. @category Math */
export function floorDivide(x: ArrayLike, y: ArrayLike): Array {
  const [a, b] = prepare('floorDivide', [x, y]);
  if (isFloat(a.dtype)) return bind1(P.floorP, [P.div(a, b)]);
  const q = P.div(a, b);
  const r = bind1(P.remP, [a, b]);
  const zero = P.zerosLike(r);
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
/** Absolute value. @category Math */ export const abs = unary('abs', P.absP, false);
/** Sign: -1, 0 or 1 (NaN stays NaN). @category Math */ export const sign = unary('sign', P.signP, false);
/** Rounds down. @category Math */ export const floor = unary('floor', P.floorP);
/** Rounds up. @category Math */ export const ceil = unary('ceil', P.ceilP);
/** Rounds half to even. @category Math */ export const round = unary('round', P.roundP);
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
