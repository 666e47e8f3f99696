/**
 * The friendly front end's one job: turn JS values into arrays, promote dtypes (JS numbers
 * are weakly typed, as in JAX) and broadcast, so primitives always see strict operands.
 * @module
 */
import { Array, type ArrayLike, ConcreteArray, type NestedArray } from '../core/array.js';
import { type DType, allocate, coerce, promote } from '../core/dtype.js';
import { DTypeError, ValueError } from '../core/errors.js';
import { broadcastShapes } from '../core/shape.js';
import { broadcastInDim, cast } from '../primitives/index.js';

const weakKind = (x: number | boolean): 'int' | 'float' | 'bool' =>
  typeof x === 'boolean' ? 'bool' : Number.isInteger(x) ? 'int' : 'float';

/** What a non-array value is, for messages (never the whole value). */
const describe = (x: unknown) =>
  x === null ? 'null' : typeof x === 'string' ? `the string ${JSON.stringify(x.slice(0, 20))}` : typeof x;

/** A JS scalar or list as an array, or an error naming `op` and what it got (strings, null, objects are not arrays). */
function fromJs(op: string, x: unknown, dtype?: DType): Array {
  if (globalThis.Array.isArray(x)) return fromNested(x as NestedArray, dtype);
  if (typeof x !== 'number' && typeof x !== 'boolean')
    throw new DTypeError(`${op}: expected an array, a nested list, a number or a boolean, got ${describe(x)}`);
  return ConcreteArray.scalar(Number(x), dtype ?? defaultDType(x));
}

/** The dtype a JS value gets when nothing else decides: numbers are float32 (as in tfjs). */
export const defaultDType = (x: number | boolean): DType => (typeof x === 'boolean' ? 'bool' : 'float32');

/** Converts nested JS arrays, numbers or booleans to an array of `dtype` (default float32, bool for booleans). */
export function fromNested(data: NestedArray | ArrayLike, dtype?: DType): Array {
  if (data instanceof Array) return dtype ? cast(data, dtype) : data;
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
    else if (typeof v === 'number' || typeof v === 'boolean') buf[i] = coerce(dt, Number(v));
    else throw new ValueError(`array: element ${i} is ${JSON.stringify(v)}, not a number or boolean`);
  });
  return new ConcreteArray(buf, shape, dt);
}

/** An array from `x` (a JS scalar becomes a 0-d array of `dtype`). */
export function asArray(x: ArrayLike, dtype?: DType, op = 'np'): Array {
  if (x instanceof Array) return dtype ? cast(x, dtype) : x;
  return fromJs(op, x, dtype);
}

/** Broadcasts `x` to `shape` (numpy rules: align trailing axes). */
export function broadcastTo(x: Array, shape: readonly number[], op = 'broadcastTo'): Array {
  broadcastShapes(op, x.shape, shape);
  if (x.ndim > shape.length) broadcastShapes(op, shape, x.shape);
  const lead = shape.length - x.ndim;
  return broadcastInDim(
    x,
    shape,
    x.shape.map((_, i) => lead + i),
  );
}

/** Promotes to one dtype (JS numbers are weak) and broadcasts to one shape. */
export function prepare(op: string, given: readonly ArrayLike[], dtype?: DType): Array[] {
  // Lists are arrays (strongly typed, as in JAX); numbers and booleans stay weak.
  const args = given.map((a) =>
    a instanceof Array || typeof a === 'number' || typeof a === 'boolean' ? a : fromJs(op, a),
  );
  const arrays = args.filter((a): a is Array => a instanceof Array);
  const dt =
    dtype ??
    promote(
      arrays.map((a) => a.dtype),
      args.filter((a): a is number | boolean => !(a instanceof Array)).map(weakKind),
    );
  const converted = args.map((a) => asArray(a, dt, op));
  const shape = broadcastShapes(op, ...converted.map((a) => a.shape));
  return converted.map((a) => broadcastTo(a, shape, op));
}
