/**
 * Reductions over a set of axes (the reduced axes are removed; `keepdims` lives in np),
 * and argmax/argmin along one axis.
 * @module
 */
import { type Array, ConcreteArray as Concrete } from '../core/array.js';
import { type DType, allocate, checkDType, coerce, isFloat } from '../core/dtype.js';
import { ValueError } from '../core/errors.js';
import { type Primitive, definePrimitive } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { fmt } from './util.js';
import {
  type ReduceParams,
  checkAxes,
  highest,
  lowest,
  numeric,
  reduceSum,
  reduction,
  transpose,
  transposeP as transposeIdentity,
  unreduce,
} from './views.js';
import { cast, div, eq, fullLike, mul, select, zerosLike } from './elementwise.js';

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
  'ReduceMax',
  lowest,
  (a, b) => (b > a || Number.isNaN(b) ? b : a),
  [...numeric, 'bool'],
  {
    jvp: extremumJvp(() => reduceMaxP),
  },
);
export const reduceMinP: Primitive<ReduceParams> = reduction(
  'reduce_min',
  'ReduceMin',
  highest,
  (a, b) => (b < a || Number.isNaN(b) ? b : a),
  [...numeric, 'bool'],
  {
    jvp: extremumJvp(() => reduceMinP),
  },
);
export const reduceProdP: Primitive<ReduceParams> = reduction(
  'reduce_prod',
  'ReduceProd',
  () => 1,
  // Each step in the dtype: integers wrap, float products overflow where their dtype does (as numpy's).
  (a, b, d) => coerce(d, isFloat(d) ? a * b : Math.imul(a, b)),
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
      let index = e.op(name === 'argmax' ? 'ArgMax' : 'ArgMin', [operand], { axis, keepdims: 0 });
      if (isFloat(a.dtype)) {
        // numpy answers the first NaN wherever one is; ONNX Runtime compares past it.
        const nan = e.op('Cast', [e.op('IsNaN', [x])], { to: e.elemType('int32') });
        const firstNan = e.op('ArgMax', [nan], { axis, keepdims: 0 });
        const anyNan = e.op('Cast', [e.op('ReduceMax', [nan, e.ints([axis])], { keepdims: 0 })], {
          to: e.elemType('bool'),
        });
        index = e.op('Where', [anyNan, firstNan, index]);
      }
      return [e.op('Cast', [index], { to: e.elemType(indexDtype) })];
    },
  });
  return prim;
}
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
    // NaN sorts as the largest value, as in numpy (and the JavaScript kernel above).
    const key = isFloat(a.dtype) ? e.op('Where', [e.op('IsNaN', [x]), e.constant(Infinity, a.dtype), x]) : x;
    const [, idx] = e.ops('TopK', [key, e.ints([n])], { axis: -1, largest: descending ? 1 : 0, sorted: 1 }, 2);
    return [e.op('Cast', [idx], { to: e.elemType('int32') })];
  },
});

// ---------------------------------------------------------------- strict functions (lax)

/** lax.reduceMax: the strict primitive (equal shapes and dtypes, no broadcasting). @category lax */
export const reduceMax = (x: Array, axes: readonly number[]) =>
  axes.length === 0 ? x : bind1(reduceMaxP, [x], { axes: [...axes] });
