/**
 * gather / scatter_add along one axis: `gather(x, idx, {axis})` has shape
 * `x.shape[:axis] + idx.shape + x.shape[axis+1:]`; scatter_add is its transpose. Indices are
 * int32 and clamped into range (the np layer wraps negative ones first). `take`,
 * `takeAlongAxis`, embeddings and `x.at[...]` updates are composites of these two.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { allocate, checkDType } from '../core/dtype.js';
import { ShapeError, ValueError } from '../core/errors.js';
import {
  type BatchDim,
  type OnnxEmitter,
  type Primitive,
  UndefinedPrimal,
  definePrimitive,
} from '../core/primitive.js';
import { type Shape, shapesEqual, sizeOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { fmt } from './util.js';
import { iota, reshape, moveBatchAxis } from './views.js';
import { add, fullLike, max, min, mul, zerosLike } from './elementwise.js';

type AxisParams = { axis: number };

const gatherShape = (x: Shape, idx: Shape, axis: number) => [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)];

function checkAxis(name: string, x: Shape, axis: number) {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.length)
    throw new ValueError(`${name}: axis ${axis} out of range for ${fmt(x)}`);
}

/**
 * Visits the runs of a gather: `inner` consecutive elements from `src` in the operand to `out` in
 * the result (scatter runs the same loop backwards). Whole runs, not single elements: a batch of
 * 64 MNIST images gathered row by row took 0.3 ms through a callback per element.
 */
function forEachRun(xShape: Shape, idx: ConcreteArray, axis: number, f: (out: number, src: number) => void) {
  const outer = sizeOf(xShape.slice(0, axis));
  const inner = sizeOf(xShape.slice(axis + 1));
  const a = xShape[axis];
  const ib = idx.buffer;
  const ni = ib.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < ni; j++) {
      const i = Math.min(Math.max(ib[j], 0), a - 1);
      f((o * ni + j) * inner, (o * a + i) * inner);
    }
  }
}

/**
 * Both operands batched: fold the vmapped axis into the indexed axis, so element b of the
 * batch indexes rows `b*A + idx` (A = size of the indexed axis).
 */
function mergeBatchIntoAxis(x: Array, dx: BatchDim, idx: Array, di: BatchDim, axis: number, size: number) {
  const xb = moveBatchAxis(x, dx, axis, size); // [pre, B, A, post]
  const a = xb.shape[axis + 1];
  const merged = reshape(xb, [...xb.shape.slice(0, axis), size * a, ...xb.shape.slice(axis + 2)]);
  // Indices are clamped to their own row first, as gather and scatter clamp: an out-of-range index
  // must not reach a neighbouring batch element's row.
  const ib = moveBatchAxis(idx, di, 0, size);
  const clamped = min(max(ib, zerosLike(ib)), fullLike(ib, Math.max(0, a - 1)));
  const offsets = mul(iota(ib.shape, 'int32', 0), fullLike({ shape: ib.shape, dtype: 'int32' }, a));
  return { merged, idx: add(clamped, offsets), a };
}

export const gatherP: Primitive<AxisParams> = definePrimitive({
  name: 'gather',
  abstractEval([x, idx], { axis }) {
    checkAxis('gather', x.shape, axis);
    checkDType('gather (indices)', idx.dtype, ['int32']);
    if (x.shape[axis] === 0 && sizeOf(idx.shape) > 0)
      throw new ValueError(`gather: cannot index an empty axis ${axis} of ${fmt(x.shape)}`);
    return [{ shape: gatherShape(x.shape, idx.shape, axis), dtype: x.dtype }];
  },
  impl([x, idx], { axis }) {
    const shape = gatherShape(x.shape, idx.shape, axis);
    const out = allocate(x.dtype, sizeOf(shape));
    const src = x.buffer;
    const inner = sizeOf(x.shape.slice(axis + 1));
    forEachRun(x.shape, idx, axis, (o, s) => out.set(src.subarray(s, s + inner), o));
    return [new ConcreteArray(out, shape, x.dtype)];
  },
  jvp: ([x, idx], [t], p) => [[gather(x, idx, p.axis)], [gather(t, idx, p.axis)]],
  batch([x, idx], [dx, di], { axis }, size) {
    if (di === null) return [[gather(moveBatchAxis(x, dx, 0, size), idx, axis + 1)], [0]];
    if (dx === null) return [[gather(x, idx, axis)], [axis + di]];
    const m = mergeBatchIntoAxis(x, dx, idx, di, axis, size);
    return [[gather(m.merged, m.idx, axis)], [axis]];
  },
  transpose([ct], [x, idx], { axis }) {
    const shape = (x as UndefinedPrimal).aval;
    return [scatterAdd(zerosLike(shape), idx as Array, ct, axis), null];
  },
  onnx: (e, [x, idx], { axis }, { ins: [xv] }) => [e.op('Gather', [x, clampOnnx(e, idx, xv.shape[axis])], { axis })],
  props: { linear: true, view: true },
});

export const scatterAddP: Primitive<AxisParams> = definePrimitive({
  name: 'scatter_add',
  props: { linear: true, kernel: true },
  abstractEval([x, idx, upd], { axis }) {
    checkAxis('scatter_add', x.shape, axis);
    checkDType('scatter_add (indices)', idx.dtype, ['int32']);
    const expected = gatherShape(x.shape, idx.shape, axis);
    if (!shapesEqual(expected, upd.shape) || upd.dtype !== x.dtype) {
      throw new ShapeError(
        `scatter_add: updates ${upd.dtype}${fmt(upd.shape)} must be ${x.dtype}${fmt(expected)} for operand ` +
          `${fmt(x.shape)} and indices ${fmt(idx.shape)}`,
      );
    }
    return [x];
  },
  impl([x, idx, upd], { axis }) {
    const out = x.buffer.slice();
    const src = upd.buffer;
    const inner = sizeOf(x.shape.slice(axis + 1));
    forEachRun(x.shape, idx, axis, (o, s) => {
      for (let k = 0; k < inner; k++) out[s + k] += src[o + k];
    });
    return [new ConcreteArray(out, x.shape, x.dtype)];
  },
  jvp: ([x, idx, u], [tx, , tu], p) => [[scatterAdd(x, idx, u, p.axis)], [scatterAdd(tx, idx, tu, p.axis)]],
  batch([x, idx, upd], [dx, di, du], { axis }, size) {
    const m = mergeBatchIntoAxis(x, dx, idx, di, axis, size);
    const u = moveBatchAxis(upd, du, axis, size);
    const out = scatterAdd(m.merged, m.idx, u, axis);
    return [[reshape(out, [...out.shape.slice(0, axis), size, m.a, ...out.shape.slice(axis + 1)])], [axis]];
  },
  transpose([ct], [x, idx, upd], { axis }) {
    return [
      x instanceof UndefinedPrimal ? ct : null,
      null,
      upd instanceof UndefinedPrimal ? gather(ct, idx as Array, axis) : null,
    ];
  },
  // ScatterElements wants indices shaped like the updates: spread them over the other axes, flatten the indexed ones.
  onnx(e, [x, idx, upd], { axis }, { ins: [xv, iv] }) {
    const flat = [...xv.shape.slice(0, axis), sizeOf(iv.shape), ...xv.shape.slice(axis + 1)];
    const column = xv.shape.map((_, i) => (i === axis ? sizeOf(iv.shape) : 1));
    const indices = e.op('Expand', [
      e.op('Reshape', [clampOnnx(e, idx, xv.shape[axis]), e.ints(column)], { allowzero: 1 }),
      e.ints(flat),
    ]);
    const updates = e.op('Reshape', [upd, e.ints(flat)], { allowzero: 1 });
    return [e.op('ScatterElements', [x, indices, updates], { axis, reduction: 'add' })];
  },
});

/** Indices clamped into [0, size), as the JavaScript kernels do. */
const clampOnnx = (e: OnnxEmitter, idx: string, size: number) =>
  e.op('Max', [e.op('Min', [idx, e.constant(Math.max(size - 1, 0), 'int32')]), e.constant(0, 'int32')]);

/** lax.gather: `x.shape[:axis] + idx.shape + x.shape[axis+1:]`, indices clamped. @category lax */
export const gather = (x: Array, idx: Array, axis: number) => bind1(gatherP, [x, idx], { axis });
/** lax.scatterAdd: adds `upd` into `x` at `idx` along `axis` (the transpose of gather). @category lax */
export const scatterAdd = (x: Array, idx: Array, upd: Array, axis: number) =>
  bind1(scatterAddP, [x, idx, upd], { axis });
