/**
 * Dtype queries: promotion (JAX's lattice, JS numbers weakly typed) and the limits of each type.
 * @module
 */
import { Array } from '../core/array.js';
import { type DType, checkDType, floatDTypes, intDTypes, intRange, isDType, promote } from '../core/dtype.js';
import { DTypeError } from '../core/errors.js';

const dtypeOf = (op: string, x: Array | DType): DType => {
  if (x instanceof Array) return x.dtype;
  if (isDType(x)) return x;
  throw new DTypeError(`${op}: expected a dtype name or an array, got ${JSON.stringify(x)?.slice(0, 30)}`);
};

/**
 * The dtype two dtypes promote to, on JAX's lattice: `int8` and `uint8` give int16, `bfloat16` and
 * `float16` give float32, an integer and a float give the float.
 * @example np.promoteTypes('int8', 'uint8') // 'int16'
 * @category Dtypes
 */
export const promoteTypes = (a: DType, b: DType): DType =>
  promote([dtypeOf('promoteTypes', a), dtypeOf('promoteTypes', b)]);

/**
 * The dtype an operation on these operands computes in: arrays and dtype names are strongly typed,
 * JS numbers and booleans weakly (`float16` with `2` is float16; `int8` with `2.5` is float32).
 * @example np.resultType(np.zeros([2], { dtype: 'float16' }), 2) // 'float16'
 * @category Dtypes
 */
export function resultType(...args: (Array | DType | number | boolean)[]): DType {
  const strong = args.filter((a) => typeof a !== 'number' && typeof a !== 'boolean') as (Array | DType)[];
  const weak = args.flatMap((a) =>
    typeof a === 'boolean' ? ['bool' as const] : typeof a === 'number' ? [Number.isInteger(a) ? 'int' : 'float'] : [],
  ) as ('int' | 'float' | 'bool')[];
  return promote(
    strong.map((a) => dtypeOf('resultType', a)),
    weak,
  );
}

/** Limits of a float dtype, as `np.finfo`. @category Dtypes */
export interface FInfo {
  dtype: DType;
  bits: number;
  /** The distance from 1 to the next larger value. */
  eps: number;
  max: number;
  min: number;
  /** The smallest positive normal value (numpy's `tiny`). */
  smallestNormal: number;
  smallestSubnormal: number;
  /** Decimal digits of precision. */
  precision: number;
  resolution: number;
}
/** Limits of an integer dtype, as `np.iinfo`. @category Dtypes */
export interface IInfo {
  dtype: DType;
  bits: number;
  min: number;
  max: number;
}

/** [bits, mantissa bits, max exponent, min normal exponent]. */
const FLOATS: Record<string, [number, number, number, number]> = {
  float64: [64, 52, 1023, -1022],
  float32: [32, 23, 127, -126],
  float16: [16, 10, 15, -14],
  bfloat16: [16, 7, 127, -126],
};

/**
 * Limits of a float dtype (or of an array's).
 * @example np.finfo('float16').max // 65504
 * @category Dtypes
 */
export function finfo(dtype: DType | Array): FInfo {
  const d = dtypeOf('finfo', dtype);
  checkDType('finfo', d, floatDTypes);
  const [bits, mant, maxExp, minExp] = FLOATS[d];
  const eps = 2 ** -mant;
  const max = (2 - eps) * 2 ** maxExp;
  const precision = Math.floor(mant * Math.log10(2));
  return {
    dtype: d,
    bits,
    eps,
    max,
    min: -max,
    smallestNormal: 2 ** minExp,
    smallestSubnormal: 2 ** (minExp - mant),
    precision,
    resolution: 10 ** -precision,
  };
}

/**
 * Limits of an integer dtype (or of an array's).
 * @example np.iinfo('int8') // { dtype: 'int8', bits: 8, min: -128, max: 127 }
 * @category Dtypes
 */
export function iinfo(dtype: DType | Array): IInfo {
  const d = dtypeOf('iinfo', dtype);
  checkDType('iinfo', d, intDTypes);
  const [min, max] = intRange(d);
  return { dtype: d, bits: Math.log2(max - min + 1), min, max };
}
