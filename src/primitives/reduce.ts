/**
 * Reductions over a set of axes (the reduced axes are removed; `keepdims` lives in np),
 * and argmax/argmin along one axis.
 * @module
 */
import type { Array, ConcreteArray, ShapedArray } from '../core/array.js';
import { type DType, allocate, checkDType, coerce } from '../core/dtype.js';
import { ValueError } from '../core/errors.js';
import { type Primitive, definePrimitive } from '../core/primitive.js';
import { sizeOf, stridesOf } from '../core/shape.js';
import { bind1 } from '../core/trace.js';
import { ConcreteArray as Concrete } from '../core/array.js';
import { advance, fmt } from './util.js';
import { broadcastInDim, transpose } from './views.js';
import { cast, div, eq, fullLike, mul, select, zerosLike } from './elementwise.js';

function checkAxes(name: string, x: ShapedArray, axes: readonly number[]): number[] {
  if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= x.shape.length) || new Set(axes).size !== axes.length) {
    throw new ValueError(`${name}: axes [${axes}] are invalid for shape ${fmt(x.shape)}`);
  }
  return x.shape.filter((_, i) => !axes.includes(i));
}

/** Moves the reduced axes last, so each output element reduces one contiguous run. */
function reduceKernel(
  x: ConcreteArray,
  axes: readonly number[],
  init: number,
  step: (acc: number, v: number) => number,
  dtype: DType,
): ConcreteArray {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...kept, ...axes];
  const xs = stridesOf(x.shape);
  const outShape = kept.map((i) => x.shape[i]);
  const n = sizeOf(outShape);
  const m = sizeOf(axes.map((a) => x.shape[a]));
  const src = x.buffer;
  const out = allocate(dtype, n);
  const shape = perm.map((p) => x.shape[p]);
  const strides = perm.map((p) => xs[p]);
  const idx = new globalThis.Array<number>(shape.length).fill(0);
  let off = 0;
  for (let o = 0; o < n; o++) {
    let acc = init;
    for (let r = 0; r < m; r++) {
      acc = step(acc, src[off]);
      off = advance(idx, shape, strides, off);
    }
    out[o] = coerce(dtype, acc);
  }
  return new Concrete(out, outShape, dtype);
}

/** Re-inserts reduced axes as broadcast: the shape of `x` again. */
const unreduce = (y: Array, x: ShapedArray, axes: readonly number[]) =>
  broadcastInDim(
    y,
    x.shape,
    x.shape.map((_, i) => i).filter((i) => !axes.includes(i)),
  );

type ReduceParams = { axes: readonly number[] };

/** ONNX reduction over `axes` (bool through int32, which ONNX Runtime's reductions hold). */
const onnxReduce =
  (type: string): Primitive<ReduceParams>['onnx'] =>
  (e, [x], { axes }, { ins: [a] }) => {
    if (a.dtype !== 'bool') return [e.op(type, [x, e.ints(axes)], { keepdims: 0 })];
    const r = e.op(type, [e.op('Cast', [x], { to: e.elemType('int32') }), e.ints(axes)], { keepdims: 0 });
    return [e.op('Cast', [r], { to: e.elemType('bool') })];
  };

function reduction(
  name: string,
  init: (d: DType) => number,
  step: (a: number, b: number) => number,
  dtypes: DType[],
  rules: Partial<Primitive<ReduceParams>>,
): Primitive<ReduceParams> {
  const prim: Primitive<ReduceParams> = definePrimitive({
    name,
    props: { kernel: true },
    abstractEval([x], { axes }) {
      checkDType(name, x.dtype, dtypes);
      return [{ shape: checkAxes(name, x, axes), dtype: x.dtype }];
    },
    impl: ([x], { axes }) => [reduceKernel(x, axes, init(x.dtype), step, x.dtype)],
    batch([x], [d], { axes }) {
      const bd = d as number;
      const moved = axes.map((a) => (a >= bd ? a + 1 : a));
      const outDim = bd - moved.filter((a) => a < bd).length;
      return [[bind1(prim, [x], { axes: moved })], [outDim]];
    },
    onnx: onnxReduce(
      (
        {
          reduce_sum: 'ReduceSum',
          reduce_max: 'ReduceMax',
          reduce_min: 'ReduceMin',
          reduce_prod: 'ReduceProd',
        } as Record<string, string>
      )[name],
    ),
    ...rules,
  });
  return prim;
}

const numeric: DType[] = ['float32', 'float16', 'int32', 'uint32'];
const lowest = (d: DType) => (d === 'float32' || d === 'float16' ? -Infinity : d === 'int32' ? -2147483648 : 0);
const highest = (d: DType) =>
  d === 'float32' || d === 'float16' ? Infinity : d === 'int32' ? 2147483647 : d === 'uint32' ? 4294967295 : 1;

export const reduceSumP = reduction(
  'reduce_sum',
  () => 0,
  (a, b) => a + b,
  numeric,
  {
    props: { linear: true, kernel: true },
    jvp: ([x], [t], p) => [[reduceSum(x, p.axes)], [reduceSum(t, p.axes)]],
    transpose: ([ct], [x], { axes }) => [unreduce(ct, x.aval, axes)],
  },
);

// The tangent of max/min is spread evenly over the positions that attain it (as JAX does).
const extremumJvp =
  (prim: () => Primitive<ReduceParams>) =>
  ([x]: Array[], [t]: Array[], p: ReduceParams): [Array[], Array[]] => {
    const y = bind1(prim(), [x], p);
    const hit = cast(eq(x, unreduce(y, x, p.axes)), x.dtype);
    const count = reduceSum(hit, p.axes);
    return [[y], [div(reduceSum(mul(t, hit), p.axes), count)]];
  };
export const reduceMaxP: Primitive<ReduceParams> = reduction(
  'reduce_max',
  lowest,
  (a, b) => (b > a || Number.isNaN(b) ? b : a),
  [...numeric, 'bool'],
  {
    jvp: extremumJvp(() => reduceMaxP),
  },
);
export const reduceMinP: Primitive<ReduceParams> = reduction(
  'reduce_min',
  highest,
  (a, b) => (b < a || Number.isNaN(b) ? b : a),
  [...numeric, 'bool'],
  {
    jvp: extremumJvp(() => reduceMinP),
  },
);
export const reduceProdP: Primitive<ReduceParams> = reduction(
  'reduce_prod',
  () => 1,
  (a, b) => a * b,
  numeric,
  {
    // d(prod)/dx_i = prod of the others, computed without dividing so zeros are handled.
    jvp([x], [t], { axes }) {
      const y = bind1(reduceProdP, [x], { axes });
      const others = prodOfOthers(x, axes);
      return [[y], [reduceSum(mul(t, others), axes)]];
    },
  },
);

/** For each element, the product of the other elements of its reduction group. */
function prodOfOthers(x: Array, axes: readonly number[]): Array {
  // Zeros are replaced by one; an element's "others" product is zero when another zero exists.
  const isZero = eq(x, zerosLike(x));
  const nz = select(isZero, fullLike(x, 1), x);
  const zeroCount = reduceSum(cast(isZero, x.dtype), axes);
  const prodNz = unreduce(bind1(reduceProdP, [nz], { axes }), x, axes);
  const zc = unreduce(zeroCount, x, axes);
  const withoutMe = div(prodNz, nz);
  const zero = zerosLike(x);
  // no zeros: prodNz / x; this is the only zero: prodNz; other zeros exist: 0.
  const ones = fullLike(x, 1);
  return select(eq(zc, zero), withoutMe, select(isZero, select(eq(zc, ones), prodNz, zero), zero));
}

// ---------------------------------------------------------------- argmax / argmin

type ArgParams = { axis: number; indexDtype: DType };
function argReduction(name: string, better: (a: number, b: number) => boolean): Primitive<ArgParams> {
  const prim: Primitive<ArgParams> = definePrimitive({
    name,
    props: { kernel: true },
    abstractEval([x], { axis, indexDtype }) {
      checkDType(name, x.dtype, [...numeric, 'bool']);
      const shape = checkAxes(name, x, [axis]);
      if (x.shape[axis] === 0) throw new ValueError(`${name}: cannot reduce an empty axis ${axis} of ${fmt(x.shape)}`);
      return [{ shape, dtype: indexDtype }];
    },
    impl([x0], { axis, indexDtype }) {
      // Bring the axis last, then scan each row; the first best index wins (NaN counts as best).
      const perm = [...x0.shape.keys()].filter((i) => i !== axis).concat([axis]);
      const x = transposeIdentity.impl([x0], { perm })[0];
      const n = x0.shape[axis];
      const rows = x.size / n;
      const src = x.buffer;
      const out = allocate(indexDtype, rows);
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let j = 1; j < n; j++) {
          const a = src[r * n + j],
            b = src[r * n + best];
          if (!Number.isNaN(b) && (Number.isNaN(a) || better(a, b))) best = j;
        }
        out[r] = best;
      }
      return [
        new Concrete(
          out,
          perm.slice(0, -1).map((p) => x0.shape[p]),
          indexDtype,
        ),
      ];
    },
    batch([x], [d], { axis, indexDtype }) {
      const bd = d as number;
      const a = axis >= bd ? axis + 1 : axis;
      return [[bind1(prim, [x], { axis: a, indexDtype })], [a < bd ? bd - 1 : bd]];
    },
    onnx: (e, [x], { axis, indexDtype }, { ins: [a] }) => {
      const operand = a.dtype === 'bool' ? e.op('Cast', [x], { to: e.elemType('int32') }) : x;
      return [
        e.op('Cast', [e.op(name === 'argmax' ? 'ArgMax' : 'ArgMin', [operand], { axis, keepdims: 0 })], {
          to: e.elemType(indexDtype),
        }),
      ];
    },
  });
  return prim;
}
import { transposeP as transposeIdentity } from './views.js';
export const argmaxP = argReduction('argmax', (a, b) => a > b);
export const argminP = argReduction('argmin', (a, b) => a < b);

/** Indices that sort each row along the last axis (stable; NaN last). Sorting is a composite of this and gather. */
export const argsortP: Primitive<{ descending: boolean }> = definePrimitive({
  name: 'argsort',
  props: { kernel: true },
  abstractEval([x]) {
    if (x.shape.length === 0) throw new ValueError('argsort: needs at least one axis');
    return [{ shape: x.shape, dtype: 'int32' }];
  },
  impl([x], { descending }) {
    const n = x.shape[x.shape.length - 1];
    const src = x.buffer;
    const out = new Int32Array(src.length);
    const order = new globalThis.Array<number>(n);
    const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
    for (let r = 0; r * n < src.length; r++) {
      for (let j = 0; j < n; j++) order[j] = j;
      order.sort((a, b) => {
        const d = key(src[r * n + a]) - key(src[r * n + b]);
        return (descending ? -d : d) || a - b;
      });
      for (let j = 0; j < n; j++) out[r * n + j] = order[j];
    }
    return [new Concrete(out, x.shape, 'int32')];
  },
  batch([x], [d], p) {
    const bd = d as number;
    const last = x.shape.length - 1;
    if (bd !== last) return [[bind1(argsortP, [x], p)], [bd]];
    const moved = transpose(x, [last, ...x.shape.slice(0, last).map((_, i) => i)]);
    return [[bind1(argsortP, [moved], p)], [0]];
  },
  // TopK of the whole row is a stable sort (ties keep the lower index first).
  onnx: (e, [x], { descending }, { ins: [a] }) => {
    const n = a.shape[a.shape.length - 1];
    const [, idx] = e.ops('TopK', [x, e.ints([n])], { axis: -1, largest: descending ? 1 : 0, sorted: 1 }, 2);
    return [e.op('Cast', [idx], { to: e.elemType('int32') })];
  },
});

// ---------------------------------------------------------------- strict functions (lax)

/** lax.reduceSum: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const reduceSum = (x: Array, axes: readonly number[]) =>
  axes.length === 0 ? x : bind1(reduceSumP, [x], { axes: [...axes] });
/** lax.reduceMax: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const reduceMax = (x: Array, axes: readonly number[]) =>
  axes.length === 0 ? x : bind1(reduceMaxP, [x], { axes: [...axes] });
