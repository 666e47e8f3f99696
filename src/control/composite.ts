/**
 * Composites (StableHLO's `composite`): a named computation carried with its decomposition. Every
 * transform and compiler sees through it to the decomposition; an ONNX lowering may instead emit
 * one fused operator that runtimes and converters know (the recurrent layers become ONNX `LSTM`,
 * `GRU` and `RNN` nodes this way).
 * @module
 */
import type { Array, ConcreteArray } from '../core/array.js';
import type { Graph } from '../core/ir.js';
import { type OnnxRule, type Primitive, definePrimitive } from '../core/primitive.js';
import { runGraph } from '../core/staging.js';
import { bind, evaluateNow } from '../core/trace.js';
import { callP, jvpGraph, partialEvalCall, stage, vmapGraph } from '../transforms/jit.js';

type CompositeParams = {
  name: string;
  /** The decomposition, with the traced function's constants as its first inputs. */
  graph: Graph;
  numConsts: number;
  /** A fused lowering on the composite's own operands (without the constants), or undefined to decline. */
  onnx?: FusedRule;
  /** The same values computed in one go on concrete operands (eager), where the decomposition takes several passes. */
  eager?: (args: ConcreteArray[]) => ConcreteArray[];
};
/** Nodes for a composite's operands, or undefined where the fused operator does not apply (its dtype, say). */
export type FusedRule = (...args: Parameters<OnnxRule<undefined>>) => string[] | undefined;

export const compositeP: Primitive<CompositeParams> = definePrimitive({
  name: 'composite',
  props: { control: true, inline: 'graph' },
  // Under reverse mode a composite is its decomposition, split as a jitted call is.
  partialEval(eqn, unknownIns) {
    const { graph, name } = eqn.params as CompositeParams;
    return partialEvalCall({ ...eqn, prim: callP, params: { graph, name } }, unknownIns);
  },
  abstractEval: (_, { graph }) => graph.outAvals,
  // Composites are the library's own (not exported): the name and decomposition determine the fused rules.
  cacheParams: ({ name, graph, numConsts }) => ({ name, graph, numConsts }),
  impl: (args, { graph, numConsts, eager }) => eager?.(args.slice(numConsts)) ?? (runGraph(graph, args) as never),
  onnx: (e, inputs, { graph, numConsts, onnx }, avals) =>
    onnx?.(e, inputs.slice(numConsts), undefined, { ins: avals.ins.slice(numConsts), outs: avals.outs }) ??
    e.inline(graph, inputs),
  // Derivatives and batching are the decomposition's: the fused form is for forward computation.
  jvp(primals, tangents, { graph }) {
    const { graph: g, consts } = jvpGraph(graph);
    const outs = runGraph(g, [...consts, ...primals, ...tangents]);
    return [outs.slice(0, graph.outs.length), outs.slice(graph.outs.length)];
  },
  batch(vals, dims, { graph }, size) {
    const { graph: g, consts } = vmapGraph(graph, dims, size);
    const outs = runGraph(g, [...consts, ...vals]);
    return [outs, outs.map(() => 0)];
  },
});

/** How a composite may run besides its decomposition. */
export interface CompositeOptions {
  /** Fused ONNX nodes for it (they receive the names of `args`), or undefined to decline. */
  onnx?: FusedRule;
  /** The same values computed in one go on concrete arguments. */
  eager?: CompositeParams['eager'];
  /**
   * Says that `fun` is the same computation whenever the key and the arguments' shapes and dtypes
   * are: its decomposition is traced once, not on every call (random draws, one per layer, would
   * otherwise spend more time tracing than drawing).
   */
  cacheKey?: string;
}

const traced = new Map<string, ReturnType<typeof stage>>();

/**
 * Applies `fun` to `args` as one named composite: its value is `fun`'s; `opts` may add a fused ONNX
 * lowering, an eager evaluation and a key for reusing the traced decomposition.
 */
export function composite(name: string, fun: (...xs: Array[]) => Array[], args: Array[], opts: CompositeOptions = {}) {
  // Evaluated now, nothing needs the decomposition: it is traced only when a transform records the call.
  const now = opts.eager && evaluateNow(args, opts.eager);
  if (now) return now;
  const avals = args.map((a) => a.aval);
  const key = opts.cacheKey === undefined ? undefined : JSON.stringify([name, opts.cacheKey, avals]);
  let staged = key === undefined ? undefined : traced.get(key);
  if (!staged) {
    staged = stage(fun, avals);
    if (key !== undefined) {
      if (traced.size >= 1024) traced.clear(); // shapes seen by one program are few; a bound for the rest
      traced.set(key, staged);
    }
  }
  const { graph, consts } = staged;
  return bind(compositeP, [...consts, ...args], {
    name,
    graph,
    numConsts: consts.length,
    onnx: opts.onnx,
    eager: opts.eager,
  });
}
