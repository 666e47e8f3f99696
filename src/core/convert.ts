/**
 * JS values (numbers, booleans, nested lists) to concrete arrays: the conversion every layer
 * needs (transforms box a function's number results; np converts its operands).
 * @module
 */
import { Array, ConcreteArray, type NestedArray } from './array.js';
import { type DType, allocate, coerce } from './dtype.js';
import { DTypeError, ValueError } from './errors.js';

export const weakKind = (x: number | boolean): 'int' | 'float' | 'bool' =>
  typeof x === 'boolean' ? 'bool' : Number.isInteger(x) ? 'int' : 'float';

/** What a non-array value is, for messages (never the whole value). */
const describe = (x: unknown) =>
  x === null ? 'null' : typeof x === 'string' ? `the string ${JSON.stringify(x.slice(0, 20))}` : typeof x;

const RANGE: Partial<Record<DType, [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };
/** `v` if an integer dtype can hold it; a JS number past its range is an error, not a silent wrap (as in JAX). */
function fits(op: string, v: number, dtype: DType): number {
  const r = RANGE[dtype];
  if (r && Number.isFinite(v) && (Math.trunc(v) < r[0] || Math.trunc(v) > r[1]))
    throw new ValueError(`${op}: ${v} does not fit in ${dtype} (${r[0]} to ${r[1]})`);
  return v;
}

/** A JS scalar or list as an array, or an error naming `op` and what it got (strings, null, objects are not arrays). */
export function fromJs(op: string, x: unknown, dtype?: DType): Array {
  if (globalThis.Array.isArray(x)) return fromNested(x as NestedArray, dtype);
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
    else throw new ValueError(`array: element ${i} is ${JSON.stringify(v)}, not a number or boolean`);
  });
  return new ConcreteArray(buf, shape, dt);
}

/** `x` if it is an array, else the array a JS value makes (no cast: see np's asArray for that). */
export const toArray = (x: unknown, op: string, dtype?: DType): Array =>
  x instanceof Array ? x : fromJs(op, x, dtype);
