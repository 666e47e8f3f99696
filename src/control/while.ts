/**
 * `whileLoop`: iterate a body while a predicate holds. Forward-differentiable and batchable
 * (a batched predicate keeps finished examples fixed); not reverse-differentiable, as in JAX.
 * `fori` with static bounds lowers to scan and so is fully differentiable.
 * @module
 */
import { Array, avalString } from '../core/array.js';
import { DTypeError, ShapeError, TraceError } from '../core/errors.js';
import { Graph } from '../core/ir.js';
import { type Primitive, type PartialEvalResult, definePrimitive } from '../core/primitive.js';
import { shapesEqual } from '../core/shape.js';
import { evalGraph, runGraph, traceToGraph } from '../core/staging.js';
import { bind } from '../core/trace.js';
import { add, broadcastInDim, cast, fullLike, iota, reduceMax, select } from '../primitives/index.js';
import { moveBatchAxis } from '../primitives/views.js';
import { unflatten } from '../tree.js';
import { flattenArgs } from '../transforms/flat.js';
import { jvpFlat } from '../transforms/jvp.js';
import { stage } from '../transforms/jit.js';
import { vmapFlat } from '../transforms/vmap.js';
import { toArray } from '../core/convert.js';
import { checkSameTypes } from './util.js';
import { scan } from './scan.js';

export type WhileParams = { cond: Graph; body: Graph; numCondConsts: number; numBodyConsts: number };

export const whileP: Primitive<WhileParams> = definePrimitive({
  name: 'while',
  partialEval: partialEvalWhile,
  props: { control: true },
  abstractEval(avals, { cond, body, numCondConsts: a, numBodyConsts: b }) {
    const carry = avals.slice(a + b);
    const out = body.outAvals;
    if (
      out.length !== carry.length ||
      out.some((o, i) => o.dtype !== carry[i].dtype || !shapesEqual(o.shape, carry[i].shape))
    ) {
      throw new ShapeError(
        `whileLoop: body maps ${carry.map(avalString)} to ${out.map(avalString)}; the carry must keep its types`,
      );
    }
    const p = cond.outAvals[0];
    if (cond.outAvals.length !== 1 || p.dtype !== 'bool' || p.shape.length !== 0)
      throw new DTypeError(`whileLoop: the condition must return a bool scalar, got ${cond.outAvals.map(avalString)}`);
    return carry;
  },
  impl(inputs, { cond, body, numCondConsts: a, numBodyConsts: b }) {
    const cc = inputs.slice(0, a),
      bc = inputs.slice(a, a + b);
    let carry: Array[] = inputs.slice(a + b);
    while (runGraph(cond, [...cc, ...carry])[0].item()) carry = runGraph(body, [...bc, ...carry]);
    return carry as never;
  },
  jvp(primals, tangents, p) {
    const { cond, body, numCondConsts: a, numBodyConsts: b } = p;
    const cc = primals.slice(0, a),
      bc = primals.slice(a, a + b),
      bct = tangents.slice(a, a + b);
    const k = primals.length - a - b;
    const carryAvals = body.outAvals;
    const newCond = stage((...xs) => evalGraph(cond, xs.slice(0, a + k)), [...cond.inAvals, ...carryAvals]);
    const newBody = stage(
      (...xs) => {
        const [o, t] = jvpFlat(
          (...ys) => evalGraph(body, ys),
          [...xs.slice(0, b), ...xs.slice(2 * b, 2 * b + k)],
          [...xs.slice(b, 2 * b), ...xs.slice(2 * b + k)],
        );
        return [...o, ...t];
      },
      [...body.inAvals.slice(0, b), ...body.inAvals.slice(0, b), ...carryAvals, ...carryAvals],
    );
    const outs = bind(
      whileP,
      [...newCond.consts, ...cc, ...newBody.consts, ...bc, ...bct, ...primals.slice(a + b), ...tangents.slice(a + b)],
      {
        cond: newCond.graph,
        body: newBody.graph,
        numCondConsts: newCond.consts.length + a,
        numBodyConsts: newBody.consts.length + 2 * b,
      },
    );
    return [outs.slice(0, k), outs.slice(k)];
  },
  batch(vals, dims, p, size) {
    const { cond, body, numCondConsts: a, numBodyConsts: b } = p;
    const carry = vals.slice(a + b).map((v, i) => moveBatchAxis(v, dims[a + b + i], 0, size));
    const carryDims = carry.map(() => 0);
    const carryAvals = carry.map((c) => c.aval);
    const cAvals = vals.slice(0, a).map((v) => v.aval),
      bAvals = vals.slice(a, a + b).map((v) => v.aval);
    const preds = (xs: Array[]) =>
      vmapFlat((...ys) => evalGraph(cond, ys), size, xs, [...dims.slice(0, a), ...carryDims], [0])[0];
    // Keep looping while any example's predicate holds; finished examples keep their carry.
    const newCond = stage((...xs) => [reduceMax(preds(xs), [0])], [...cAvals, ...carryAvals]);
    const newBody = stage(
      (...xs) => {
        const cc = xs.slice(0, a),
          bc = xs.slice(a, a + b),
          c = xs.slice(a + b);
        const live = preds([...cc, ...c]);
        const next = vmapFlat(
          (...ys) => evalGraph(body, ys),
          size,
          [...bc, ...c],
          [...dims.slice(a, a + b), ...carryDims],
          (n) => new globalThis.Array(n).fill(0),
        );
        return next.map((nv, i) => select(broadcastInDim(live, nv.shape, [0]), nv, c[i]));
      },
      [...cAvals, ...bAvals, ...carryAvals],
    );
    const outs = bind(
      whileP,
      [
        ...newCond.consts,
        ...vals.slice(0, a),
        ...newBody.consts,
        ...vals.slice(0, a),
        ...vals.slice(a, a + b),
        ...carry,
      ],
      {
        cond: newCond.graph,
        body: newBody.graph,
        numCondConsts: newCond.consts.length + a,
        numBodyConsts: newBody.consts.length + a + b,
      },
    );
    return [outs, outs.map(() => 0)];
  },
});

function partialEvalWhile(): PartialEvalResult {
  throw new TraceError(
    'whileLoop is not reverse-differentiable (its trip count is dynamic); use lax.scan or lax.fori with static bounds',
  );
}

/**
 * `while (condFn(carry)) carry = bodyFn(carry)` as a traced loop (carry is a pytree).
 * @example lax.whileLoop((c) => np.less(c, 10), (c) => c.add(1), np.array(0))
 * @category Control flow
 */
export function whileLoop<C>(condFn: (c: C) => Array | boolean, bodyFn: (c: C) => C, init: C): C {
  const [leaves, def] = flattenArgs([init]);
  const avals = leaves.map((l) => l.aval);
  const condG = traceToGraph((...xs) => [toArray(condFn(unflatten(def, xs)[0]), 'whileLoop')], avals);
  const bodyG = traceToGraph((...xs) => {
    const [out, od] = flattenArgs([bodyFn(unflatten(def, xs)[0])]);
    checkSameTypes(
      'whileLoop',
      'the body',
      def,
      avals,
      od,
      out.map((o) => o.aval),
    );
    return out;
  }, avals);
  const outs = bind(whileP, [...condG.consts, ...bodyG.consts, ...leaves], {
    cond: condG.graph,
    body: bodyG.graph,
    numCondConsts: condG.consts.length,
    numBodyConsts: bodyG.consts.length,
  });
  return unflatten(def, outs)[0];
}

/** The int32 counters `lower, ..., upper - 1`. */
function steps(lower: number, upper: number): Array {
  const i = iota([upper - lower], 'int32', 0);
  return add(i, fullLike(i, lower));
}

/**
 * `for (i = lower; i < upper; i++) carry = body(i, carry)`. Static (number) bounds lower to
 * scan (reverse-differentiable); array bounds to whileLoop.
 * @example lax.fori(0, 5, (i, acc) => acc.add(i), np.array(0))
 * @category Control flow
 */
export function fori<C>(lower: number | Array, upper: number | Array, body: (i: Array, carry: C) => C, init: C): C {
  if (typeof lower === 'number' && typeof upper === 'number') {
    return scan((c: C, i: Array) => [body(i, c), null], init, steps(lower, Math.max(lower, upper)))[0];
  }
  const lo = cast(toArray(lower, 'fori'), 'int32');
  const [, out] = whileLoop(
    ([i]: [Array, C]) => i.less(upper),
    ([i, c]: [Array, C]) => [i.add(1), body(i, c)] as [Array, C],
    [lo, init] as [Array, C],
  );
  return out;
}
