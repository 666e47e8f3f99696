/**
 * User-defined derivatives (`customJvp`, `customVjp`) and rematerialisation (`checkpoint`).
 * Their primitives carry JS closures as params; batching wraps the closures in vmap.
 * @module
 */
import { Array, type ShapedArray, avalString } from '../core/array.js';
import { TraceError } from '../core/errors.js';
import { type Eqn, Graph } from '../core/ir.js';
import {
  type OnnxEmitter,
  type Primitive,
  UndefinedPrimal,
  type PartialEvalResult,
  definePrimitive,
} from '../core/primitive.js';
import { runGraph, traceToGraph } from '../core/staging.js';
import { bind } from '../core/trace.js';
import { moveBatchAxis } from '../primitives/views.js';
import { type TreeDef, unflatten } from '../tree.js';
import { flattenArgs } from '../transforms/flat.js';
import { jvpGraph, stage, vmapGraph } from '../transforms/jit.js';
import { dce } from '../transforms/passes.js';
import { partialEval } from '../transforms/partial.js';
import { backwardPass } from '../transforms/transpose.js';
import { vmapFlat } from '../transforms/vmap.js';

type Flat = (...xs: Array[]) => Array[];
const outAvalCache = new WeakMap<Flat, Map<string, ShapedArray[]>>();
function outAvalsOf(fun: Flat, avals: ShapedArray[]): ShapedArray[] {
  let m = outAvalCache.get(fun);
  if (!m) outAvalCache.set(fun, (m = new Map()));
  const key = avals.map(avalString).join();
  let r = m.get(key);
  if (!r) m.set(key, (r = traceToGraph(fun, avals).graph.outAvals));
  return r;
}
const allZero = (n: number) => new globalThis.Array(n).fill(0);
const batchFlat =
  (f: Flat, size: number): Flat =>
  (...xs) =>
    vmapFlat(f, size, xs, allZero(xs.length), (n) => allZero(n));
const moveAll = (vals: Array[], dims: (number | null)[], size: number) =>
  vals.map((v, i) => moveBatchAxis(v, dims[i], 0, size));

// ---------------------------------------------------------------- custom_jvp

/** Lowers a function's forward computation to ONNX by tracing it; its captured constants become initializers. */
function inlineFlat(e: OnnxEmitter, fun: Flat, avals: ShapedArray[], inputs: string[]): string[] {
  const { graph, consts } = traceToGraph(fun, avals);
  const names = consts.map((c) => {
    const v = c.toConcrete();
    if (!v) throw new TraceError('onnx: a custom rule closed over a traced value');
    return e.constant(v.buffer, v.dtype, v.shape);
  });
  return e.inline(graph, [...names, ...inputs]);
}

type CustomJvpParams = { fun: Flat; rule: (primals: Array[], tangents: Array[]) => [Array[], Array[]] };

export const customJvpP: Primitive<CustomJvpParams> = definePrimitive({
  name: 'custom_jvp_call',
  props: { control: true, inline: 'function' },
  abstractEval: (avals, { fun }) => outAvalsOf(fun, avals),
  impl: (args, { fun }) => fun(...args) as never,
  onnx: (e, inputs, { fun }, { ins }) => inlineFlat(e, fun, ins, inputs),
  jvp: (primals, tangents, { rule }) => rule(primals, tangents),
  batch(vals, dims, { fun, rule }, size) {
    const n = vals.length;
    const batchedRule = (ps: Array[], ts: Array[]): [Array[], Array[]] => {
      const outs = batchFlat((...pt) => {
        const [o, t] = rule(pt.slice(0, n), pt.slice(n));
        return [...o, ...t];
      }, size)(...ps, ...ts);
      return [outs.slice(0, outs.length / 2), outs.slice(outs.length / 2)];
    };
    const outs = bind(customJvpP, moveAll(vals, dims, size), { fun: batchFlat(fun, size), rule: batchedRule });
    return [outs, outs.map(() => 0)];
  },
});

/**
 * Gives `f` a hand-written forward derivative: `rule(primals, tangents) -> [out, outTangent]`
 * (argument lists as tuples). Reverse mode follows by linearization, as in JAX.
 * @example
 * const safeLog1pExp = customJvp((x) => np.log1p(np.exp(x)), ([x], [t]) => [np.log1p(np.exp(x)),
 * t.multiply(np.sigmoid(x))]);
 * @category Transforms
 */
export function customJvp<F extends (...args: any[]) => any>(
  f: F,
  rule: (primals: Parameters<F>, tangents: Parameters<F>) => [ReturnType<F>, ReturnType<F>],
): F {
  // One flat function per argument structure, so that its output avals are traced once per shape.
  const flats = new Map<string, { fun: Flat; rule: CustomJvpParams['rule']; outDef: () => TreeDef }>();
  const flatFor = (def: TreeDef) => {
    const key = JSON.stringify(def);
    let flat = flats.get(key);
    if (!flat) {
      let outDef: TreeDef | undefined;
      const fun: Flat = (...xs) => {
        const [o, od] = flattenArgs([f(...unflatten(def, xs))]);
        outDef = od;
        return o;
      };
      const flatRule = (ps: Array[], ts: Array[]): [Array[], Array[]] => {
        const [o, t] = rule(unflatten(def, ps), unflatten(def, ts));
        return [flattenArgs([o])[0], flattenArgs([t])[0]];
      };
      flats.set(key, (flat = { fun, rule: flatRule, outDef: () => outDef! }));
    }
    return flat;
  };
  return ((...args: any[]) => {
    const [leaves, def] = flattenArgs(args);
    const { fun, rule: flatRule, outDef } = flatFor(def);
    outAvalsOf(
      fun,
      leaves.map((l) => l.aval),
    );
    return unflatten(outDef(), bind(customJvpP, leaves, { fun, rule: flatRule }))[0];
  }) as F;
}

// ---------------------------------------------------------------- custom_vjp

type CustomVjpParams = { fun: Flat; fwd: Flat; bwd: Flat; numOuts: number };
type CustomLinParams = { bwd: Flat; numRes: number; outAvals: ShapedArray[] };

/** The linear tangent map of a custom_vjp function: known only through its transpose (bwd). */
export const customLinP: Primitive<CustomLinParams> = definePrimitive({
  name: 'custom_lin',
  props: { linear: true },
  abstractEval: (_, { outAvals }) => outAvals,
  impl() {
    throw new TraceError(
      'forward-mode differentiation (jvp, jacfwd) of a customVjp function is not supported; use customJvp',
    );
  },
  transpose(cts, inputs, { bwd, numRes }) {
    const res = inputs.slice(0, numRes) as Array[];
    return [...res.map(() => null), ...bwd(...res, ...cts)];
  },
  batch(vals, dims, { bwd, numRes, outAvals }, size) {
    const outs = bind(customLinP, moveAll(vals, dims, size), {
      bwd: batchFlat(bwd, size),
      numRes,
      outAvals: outAvals.map((a) => ({ shape: [size, ...a.shape], dtype: a.dtype })),
    });
    return [outs, outs.map(() => 0)];
  },
});

export const customVjpP: Primitive<CustomVjpParams> = definePrimitive({
  name: 'custom_vjp_call',
  props: { control: true, inline: 'function' },
  abstractEval: (avals, { fun }) => outAvalsOf(fun, avals),
  impl: (args, { fun }) => fun(...args) as never,
  onnx: (e, inputs, { fun }, { ins }) => inlineFlat(e, fun, ins, inputs),
  jvp(primals, tangents, { fwd, bwd, numOuts }) {
    const r = fwd(...primals);
    const outs = r.slice(0, numOuts),
      res = r.slice(numOuts);
    const touts = bind(customLinP, [...res, ...tangents], {
      bwd,
      numRes: res.length,
      outAvals: outs.map((o) => o.aval),
    });
    return [outs, touts];
  },
  batch(vals, dims, { fun, fwd, bwd, numOuts }, size) {
    const outs = bind(customVjpP, moveAll(vals, dims, size), {
      fun: batchFlat(fun, size),
      fwd: batchFlat(fwd, size),
      bwd: batchFlat(bwd, size),
      numOuts,
    });
    return [outs, outs.map(() => 0)];
  },
});

/**
 * Gives `f` a hand-written reverse derivative. `fwd(...args) -> [out, residuals]` and
 * `bwd(residuals, outCotangent) -> [argCotangent, ...]` (one per argument).
 * @example
 * const clipGrad = customVjp((x) => x, (x) => [x, null], (_, g) => [np.clip(g, -1, 1)]);
 * @category Transforms
 */
export function customVjp<F extends (...args: any[]) => any, R>(
  f: F,
  fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
  bwd: (residuals: R, ct: ReturnType<F>) => unknown[],
): F {
  return ((...args: any[]) => {
    const [leaves, def] = flattenArgs(args);
    let outDef: TreeDef | undefined, resDef: TreeDef | undefined;
    const fun: Flat = (...xs) => {
      const [o, od] = flattenArgs([f(...unflatten(def, xs))]);
      outDef = od;
      return o;
    };
    const flatFwd: Flat = (...xs) => {
      const [o, res] = fwd(...unflatten(def, xs));
      const [rl, rd] = flattenArgs([res]);
      resDef = rd;
      return [...flattenArgs([o])[0], ...rl];
    };
    const numOuts = outAvalsOf(
      fun,
      leaves.map((l) => l.aval),
    ).length;
    const flatBwd: Flat = (...xs) => {
      const nRes = xs.length - numOuts;
      const cts = bwd(unflatten(resDef!, xs.slice(0, nRes))[0], unflatten(outDef!, xs.slice(nRes))[0]);
      return flattenArgs(cts)[0];
    };
    return unflatten(outDef!, bind(customVjpP, leaves, { fun, fwd: flatFwd, bwd: flatBwd, numOuts }))[0];
  }) as F;
}

// ---------------------------------------------------------------- checkpoint (remat)

type RematParams = { graph: Graph };

export const rematP: Primitive<RematParams> = definePrimitive({
  name: 'checkpoint',
  partialEval: partialEvalCheckpoint,
  props: { control: true, inline: 'graph' },
  abstractEval: (_, { graph }) => graph.outAvals,
  impl: (args, { graph }) => runGraph(graph, args) as never,
  onnx: (e, inputs, { graph }) => e.inline(graph, inputs),
  jvp(primals, tangents, { graph }) {
    const { graph: g, consts } = jvpGraph(graph);
    const outs = bind(rematP, [...consts, ...primals, ...tangents], { graph: g });
    return [outs.slice(0, graph.outs.length), outs.slice(graph.outs.length)];
  },
  batch(vals, dims, { graph }, size) {
    const { graph: g, consts } = vmapGraph(graph, dims, size);
    const outs = bind(rematP, [...consts, ...vals], { graph: g });
    return [outs, outs.map(() => 0)];
  },
  // Recompute the primal values inside, then transpose the linear part (backwardPass does both).
  transpose: (cts, inputs, { graph }) => backwardPass(graph, inputs as (Array | UndefinedPrimal)[], cts),
});

// Under reverse mode, save only the checkpoint's inputs: the known side computes the outputs,
// the unknown side recomputes everything it needs from the inputs.
function partialEvalCheckpoint(eqn: Eqn, unknownIns: boolean[]): PartialEvalResult {
  const { graph } = eqn.params as RematParams;
  const pe = partialEval(graph, unknownIns);
  const knownGraph = dce(
    new Graph(
      pe.known.inVars,
      pe.known.eqns,
      graph.outs.filter((_, i) => !pe.outUnknown[i]),
    ),
  );
  const unknownGraph = dce(
    new Graph(
      graph.inVars,
      graph.eqns,
      graph.outs.filter((_, i) => pe.outUnknown[i]),
    ),
  );
  return {
    known: [
      {
        prim: rematP,
        params: { graph: knownGraph },
        inputs: eqn.inputs.filter((_, i) => !unknownIns[i]),
        outs: eqn.outs.filter((_, i) => !pe.outUnknown[i]),
      },
    ],
    unknown: [
      {
        prim: rematP,
        params: { graph: unknownGraph },
        inputs: eqn.inputs,
        outs: eqn.outs.filter((_, i) => pe.outUnknown[i]),
      },
    ],
    outUnknown: pe.outUnknown,
  };
}

/**
 * Rematerialisation: under reverse mode, `checkpoint(f)` stores only its inputs and recomputes
 * its intermediates during the backward pass (less memory, more compute).
 * @example const block = checkpoint((x) => np.tanh(np.matmul(x, w)));
 * @category Transforms
 */
export function checkpoint<F extends (...args: any[]) => any>(f: F): F {
  return ((...args: any[]) => {
    const [leaves, def] = flattenArgs(args);
    let outDef: TreeDef | undefined;
    const { graph, consts } = stage(
      (...xs) => {
        const [o, od] = flattenArgs([f(...unflatten(def, xs))]);
        outDef = od;
        return o;
      },
      leaves.map((l) => l.aval),
    );
    return unflatten(outDef!, bind(rematP, [...consts, ...leaves], { graph }))[0];
  }) as F;
}
