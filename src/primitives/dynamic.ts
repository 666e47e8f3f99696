/**
 * Slicing at positions known only at run time (`lax.dynamicSlice`, `lax.dynamicUpdateSlice`) and
 * `lax.topK`, as composites of gather, scatter and argsort: they work under every transform, and a
 * start that would run past the end is clamped so the slice fits, as in JAX.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { DTypeError, ShapeError, fmtShape } from '../core/errors.js';
import { bind1 } from '../core/trace.js';
import { add, cast, max, min, mul, sub, fullLike } from './elementwise.js';
import { gather, scatterAdd } from './indexing.js';
import { argsortP } from './reduce.js';
import { broadcastInDim, iota, reshape, sliceP } from './views.js';

/** A start index as an int32 scalar, clamped to `[0, dim - size]`. */
function clampedStart(op: string, start: number | Array, dim: number, size: number): Array {
  const s = typeof start === 'number' ? ConcreteArray.scalar(start, 'int32') : start;
  if (s.ndim !== 0 || !['int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32'].includes(s.dtype))
    throw new DTypeError(`${op}: start indices must be integer scalars, got ${s.dtype}[${s.shape}]`);
  const i = cast(s, 'int32');
  return min(max(i, fullLike(i, 0)), fullLike(i, dim - size));
}

function checkSizes(op: string, shape: readonly number[], starts: readonly unknown[], sizes: readonly number[]) {
  if (
    starts.length !== shape.length ||
    sizes.length !== shape.length ||
    sizes.some((s, i) => !(s >= 0 && s <= shape[i]))
  )
    throw new ShapeError(
      `${op}: an operand of shape ${fmtShape(shape)} needs ${shape.length} start indices and sizes within it, ` +
        `got ${starts.length} starts and sizes [${sizes}]`,
    );
}

/**
 * The block of `sizes` starting at `starts` (numbers or traced int scalars).
 * @example lax.dynamicSlice(x, [i, 0], [1, 4]) // row i, under jit too
 * @category lax
 */
export function dynamicSlice(x: Array, starts: readonly (number | Array)[], sizes: readonly number[]): Array {
  checkSizes('dynamicSlice', x.shape, starts, sizes);
  return sizes.reduce((y, size, axis) => {
    const start = clampedStart('dynamicSlice', starts[axis], x.shape[axis], size);
    const idx = add(iota([size], 'int32', 0), broadcastInDim(start, [size], []));
    return gather(y, idx, axis);
  }, x);
}

/**
 * `x` with the block at `starts` replaced by `update` (a new array; `x` is unchanged).
 * @example lax.dynamicUpdateSlice(cache, newKeys, [0, t, 0, 0]) // a key/value cache at step t
 * @category lax
 */
export function dynamicUpdateSlice(x: Array, update: Array, starts: readonly (number | Array)[]): Array {
  if (update.dtype !== x.dtype)
    throw new DTypeError(`dynamicUpdateSlice: update is ${update.dtype}, the operand ${x.dtype}`);
  checkSizes('dynamicUpdateSlice', x.shape, starts, update.shape);
  // Flat positions of the block's elements, then one scatter of (update - current) there.
  let flat = broadcastInDim(ConcreteArray.scalar(0, 'int32'), update.shape, []);
  let stride = 1;
  for (let axis = x.ndim - 1; axis >= 0; axis--) {
    const start = clampedStart('dynamicUpdateSlice', starts[axis], x.shape[axis], update.shape[axis]);
    const coord = add(iota(update.shape, 'int32', axis), broadcastInDim(start, update.shape, []));
    flat = add(flat, mul(coord, fullLike(coord, stride)));
    stride *= x.shape[axis];
  }
  const positions = reshape(flat, [update.size]);
  const xs = reshape(x, [x.size]);
  const delta = sub(reshape(update, [update.size]), gather(xs, positions, 0));
  return reshape(scatterAdd(xs, positions, delta, 0), x.shape);
}

/**
 * The `k` largest elements along the last axis, in descending order, and their indices (stable:
 * equal values keep their order).
 * @example const [values, indices] = lax.topK(logits, 40);
 * @category lax
 */
export function topK(x: Array, k: number): [Array, Array] {
  const n = x.shape[x.ndim - 1];
  if (x.ndim === 0 || !Number.isInteger(k) || k < 0 || k > n)
    throw new ShapeError(`topK: k must be an integer in [0, ${n ?? 0}] for an operand of shape ${fmtShape(x.shape)}`);
  const order = bind1(argsortP, [x], { descending: true });
  const idx = bind1(sliceP, [order], {
    start: x.shape.map(() => 0),
    limit: [...x.shape.slice(0, -1), k],
    strides: x.shape.map(() => 1),
  });
  // Values along the last axis: one gather over the flattened rows, each index offset by its row's start.
  const rows = x.size / Math.max(1, n);
  const rowIdx = reshape(idx, [rows, k]);
  const flat = add(rowIdx, mul(iota([rows, k], 'int32', 0), fullLike(rowIdx, n)));
  const values = reshape(gather(reshape(x, [rows * n]), reshape(flat, [rows * k]), 0), idx.shape);
  return [values, idx];
}
