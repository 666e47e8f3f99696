/**
 * The friendly front end's one job: turn JS values into arrays, promote dtypes (JS numbers
 * are weakly typed, as in JAX) and broadcast, so primitives always see strict operands.
 * @module
 */
import { Array, type ArrayLike, type NestedArray } from '../core/array.js';
import { fromJs, fromNested as fromNestedJs, fromTyped, weakKind } from '../core/convert.js';
import { type DType, promote } from '../core/dtype.js';
import { ValueError, fmtShape } from '../core/errors.js';
import { broadcastShapes, shapesEqual } from '../core/shape.js';
import { broadcastInDim, cast, reshape } from '../primitives/index.js';

/**
 * Converts nested JS arrays, numbers, booleans or a typed array to an array of `dtype` (default
 * float32, bool for booleans, the typed array's own type), reshaped to `shape` when given.
 */
export function fromNested(data: NestedArray | ArrayLike, dtype?: DType, shape?: readonly number[]): Array {
  if (ArrayBuffer.isView(data)) return fromTyped('array', data, shape, dtype);
  const x = data instanceof Array ? (dtype ? cast(data, dtype) : data) : fromNestedJs(data as NestedArray, dtype);
  if (!shape || shapesEqual(shape, x.shape)) return x;
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || shape.reduce((a, b) => a * b, 1) !== x.size)
    throw new ValueError(`array: shape ${fmtShape(shape)} does not hold the ${x.size} elements given`);
  return reshape(x, shape);
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
