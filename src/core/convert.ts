/**
 * JS values (numbers, booleans, nested lists) to concrete arrays: the conversion every layer
 * needs (transforms box a function's number results; np converts its operands).
 * @module
 */
import { Array, ConcreteArray, type NestedArray } from './array.js';
import { type DType, type TypedArray, STORAGE, allocate, coerce, intRange, isInteger } from './dtype.js';
import { DTypeError, ValueError, fmtShape } from './errors.js';

export const weakKind = (x: number | boolean): 'int' | 'float' | 'bool' =>
  typeof x === 'boolean' ? 'bool' : Number.isInteger(x) ? 'int' : 'float';

/** What a non-array value is, for messages (never the whole value). */
const describe = (x: unknown) =>
  x === null
    ? 'null'
    : typeof x === 'string'
      ? `the string ${JSON.stringify(x.slice(0, 20))}`
      : typeof x === 'object' && x.constructor !== Object && x.constructor?.name
        ? `a ${x.constructor.name}`
        : typeof x === 'object'
          ? 'an object'
          : typeof x;

/** `v` if an integer dtype can hold it; a JS number past its range is an error, not a silent wrap (as in JAX). */
function fits(op: string, v: number, dtype: DType): number {
  if (!isInteger(dtype)) return v;
  const r = intRange(dtype);
  if (Number.isFinite(v) && (Math.trunc(v) < r[0] || Math.trunc(v) > r[1]))
    throw new ValueError(`${op}: ${v} does not fit in ${dtype} (${r[0]} to ${r[1]})`);
  return v;
}

/** The dtype a typed array becomes when none is given: the type it holds. */
const TYPED_DTYPE: [new (n: number) => ArrayBufferView, DType][] = [
  [Float64Array, 'float64'],
  [Float32Array, 'float32'],
  [Int32Array, 'int32'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint32Array, 'uint32'],
  [Uint16Array, 'uint16'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray, 'uint8'],
];
function typedDType(op: string, data: ArrayBufferView): DType {
  const found = TYPED_DTYPE.find(([T]) => data instanceof T);
  if (!found) throw new DTypeError(`${op}: cannot make an array from a ${data.constructor.name}`);
  return found[1];
}

/**
 * A typed array as an array of `shape` (default: 1-d; its dtype by default the one it holds:
 * Float64Array is float64, Uint8Array uint8). It is used as it is, without a copy, when it is the
 * type the dtype is stored in (Float32Array for float32, Int8Array for int8, Uint8Array of 0/1 for
 * bool, Uint16Array of bit patterns for float16 and bfloat16), so later writes to it show through
 * (as torch.from_numpy); other types are converted.
 */
export function fromTyped(op: string, data: ArrayBufferView, shape?: readonly number[], dtype?: DType): ConcreteArray {
  const dt = dtype ?? typedDType(op, data);
  const n = (data as TypedArray).length;
  const s = shape ?? [n];
  if (s.some((d) => !Number.isInteger(d) || d < 0) || s.reduce((a, b) => a * b, 1) !== n)
    throw new ValueError(`${op}: shape ${fmtShape(s)} does not hold the ${n} elements given`);
  const storage = STORAGE[dt];
  const values = data as unknown as ArrayLike<number>;
  const zeroOne = () => {
    for (let i = 0; i < n; i++) if (values[i] !== 0 && values[i] !== 1) return false;
    return true;
  };
  if (data instanceof storage && (dt !== 'bool' || zeroOne())) return new ConcreteArray(data, s, dt);
  if (typeof (values as { [i: number]: unknown })[0] === 'bigint')
    throw new DTypeError(`${op}: cannot make an array from a ${data.constructor.name}`);
  const buf = allocate(dt, n);
  for (let i = 0; i < n; i++) buf[i] = coerce(dt, fits(op, values[i], dt));
  return new ConcreteArray(buf, s, dt);
}

/** A JS scalar or list as an array, or an error naming `op` and what it got (strings, null, objects are not arrays). */
export function fromJs(op: string, x: unknown, dtype?: DType): Array {
  if (globalThis.Array.isArray(x)) return fromNested(x as NestedArray, dtype);
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) return fromTyped(op, x, undefined, dtype);
  if (typeof x !== 'number' && typeof x !== 'boolean')
    throw new DTypeError(`${op}: expected an array, a nested list, a number or a boolean, got ${describe(x)}`);
  const dt = dtype ?? defaultDType(x);
  return ConcreteArray.scalar(fits(op, Number(x), dt), dt);
}

/** The dtype a JS value gets when nothing else decides: numbers are float32 (as in tfjs). */
export const defaultDType = (x: number | boolean): DType => (typeof x === 'boolean' ? 'bool' : 'float32');

/** Converts nested JS arrays, numbers or booleans to an array of `dtype` (default float32, bool for booleans). */
export function fromNested(data: NestedArray, dtype?: DType): Array {
  const shape: number[] = [];
  let probe: unknown = data;
  while (globalThis.Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat: unknown[] = shape.length ? (data as unknown[]).flat(Infinity) : [data];
  const expected = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== expected) throw new ValueError(`array: ragged nested data cannot form shape [${shape}]`);
  const dt = dtype ?? (typeof probe === 'boolean' ? 'bool' : probe instanceof Array ? probe.dtype : 'float32');
  const buf = allocate(dt, expected);
  flat.forEach((v, i) => {
    if (v instanceof Array) buf[i] = coerce(dt, v.item());
    else if (typeof v === 'number' || typeof v === 'boolean') buf[i] = coerce(dt, fits('array', Number(v), dt));
    else throw new ValueError(`array: element ${i} is ${describe(v)}, not a number or boolean`);
  });
  return new ConcreteArray(buf, shape, dt);
}

/** `x` if it is an array, else the array a JS value makes (no cast: see np's asArray for that). */
export const toArray = (x: unknown, op: string, dtype?: DType): Array =>
  x instanceof Array ? x : fromJs(op, x, dtype);
