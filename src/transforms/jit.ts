/**
 * jit: stage a function into a Graph once per (tree structure, shapes, dtypes, static
 * values), optimise it, and bind it as a `call` primitive so it composes with every transform.
 * @module
 */
import { Array, ConcreteArray, type ShapedArray, avalString, weakConstants } from '../core/array.js';
import { toArray } from '../core/convert.js';
import { ValueError } from '../core/errors.js';
import { type Eqn, Graph, Var, typecheckGraph } from '../core/ir.js';
import { type Primitive, UndefinedPrimal, type PartialEvalResult, definePrimitive } from '../core/primitive.js';
import { shapesEqual } from '../core/shape.js';
import { type ClosedGraph, evalGraph, interpret, traceToGraph } from '../core/staging.js';
import { Tracer, bind } from '../core/trace.js';
import { type TreeDef, flatten, signature, unflatten } from '../tree.js';
import { cse, dce, simplify } from './passes.js';
import { type PartialGraphs, partialEval } from './partial.js';
import { backwardPass } from './transpose.js';
import { dotGeneralP, transposeP } from '../primitives/index.js';
import { jvpFlat } from './jvp.js';
import { vmapFlat } from './vmap.js';
import type { BatchDim } from '../core/primitive.js';

type CallParams = {
  graph: Graph;
  name: string;
  device?: 'cpu' | 'webgpu';
  donate?: number[];
  /** The first `consts` inputs are the arrays the function closed over or made: backends may build them in. */
  consts?: number;
};

/** Traces `fn` on avals and returns the optimised closed graph. */
export function stage(fn: (...xs: Array[]) => Array[], avals: readonly ShapedArray[]): ClosedGraph {
  const { graph, consts } = traceToGraph(fn, avals);
  return { graph: dce(simplify(cse(graph), { dot: dotGeneralP, transpose: transposeP })), consts };
}

/**
 * Derived graphs are built once per source graph (and variant), so every call of a transformed
 * jitted function binds the same graph and its compiled executable is reused.
 */
function memo<K extends object, V>(
  cache: WeakMap<K, Map<string, V>>,
  g: K,
  key: string,
  build: () => V,
  cacheable: (v: V) => boolean = () => true,
): V {
  let m = cache.get(g);
  if (!m) cache.set(g, (m = new Map()));
  let v = m.get(key);
  if (v === undefined) {
    v = build();
    if (cacheable(v)) m.set(key, v);
  }
  return v;
}
const closedOverNoTracer = (c: ClosedGraph) => !c.consts.some((x) => x instanceof Tracer);

const jvpGraphs = new WeakMap<Graph, Map<string, ClosedGraph>>();
/** The graph of `jvp(graph)`: inputs [...primals, ...tangents], outputs [...primal outs, ...tangent outs]. */
export function jvpGraph(g: Graph): ClosedGraph {
  const n = g.inVars.length;
  return memo(
    jvpGraphs,
    g,
    '',
    () =>
      stage(
        (...xs) => {
          const [o, t] = jvpFlat((...ps) => evalGraph(g, ps), xs.slice(0, n), xs.slice(n));
          return [...o, ...t];
        },
        [...g.inAvals, ...g.inAvals],
      ),
    closedOverNoTracer,
  );
}

const transposeGraphs = new WeakMap<Graph, Map<string, ClosedGraph>>();
/**
 * The graph of the transpose of `g` in its `linear` inputs: `[...other inputs, ...output cotangents]
 * -> linear inputs' cotangents`.
 */
function transposeGraph(g: Graph, linear: boolean[]): ClosedGraph {
  const others = g.inAvals.filter((_, i) => !linear[i]);
  return memo(
    transposeGraphs,
    g,
    linear.map(Number).join(''),
    () =>
      stage(
        (...xs) => {
          let k = 0;
          const args = g.inVars.map((v, i) => (linear[i] ? new UndefinedPrimal(v.aval) : xs[k++]));
          return backwardPass(g, args, xs.slice(others.length)).filter((_, i) => linear[i]) as Array[];
        },
        [...others, ...g.outAvals],
      ),
    closedOverNoTracer,
  );
}

const partialGraphs = new WeakMap<Graph, Map<string, PartialGraphs>>();
// A jitted call with some unknown inputs splits into a known call and an unknown call that takes
// the known one's residuals (autodidax's xla_call rule): grad(jit(f)) keeps both passes jitted.
export function partialEvalCall(eqn: Eqn, unknownIns: boolean[]): PartialEvalResult {
  const params = eqn.params as CallParams;
  const pe = memo(partialGraphs, params.graph, unknownIns.map(Number).join(''), () =>
    partialEval(params.graph, unknownIns),
  );
  const residuals = pe.residuals.map((v) => new Var(v.aval));
  const known: Eqn = {
    prim: callP,
    params: { ...params, graph: pe.known, name: `known(${params.name})`, consts: undefined },
    inputs: eqn.inputs.filter((_, i) => !unknownIns[i]),
    outs: [...eqn.outs.filter((_, i) => pe.outKnown[i]), ...residuals],
  };
  const unknown: Eqn = {
    prim: callP,
    params: { ...params, graph: pe.unknown, name: `unknown(${params.name})`, donate: undefined, consts: undefined },
    inputs: [...residuals, ...eqn.inputs.filter((_, i) => unknownIns[i])],
    outs: eqn.outs.filter((_, i) => pe.outUnknown[i]),
  };
  return { known: [known], unknown: [unknown], outUnknown: pe.outUnknown };
}

/** The graph of `vmap(graph)` with the given input batch axes; every output is batched at `outDim`. */
export function vmapGraph(g: Graph, dims: BatchDim[], size: number, outDim = 0): ClosedGraph {
  const avals = g.inAvals.map((a, i) => {
    const d = dims[i];
    if (d === null) return a;
    const shape = [...a.shape];
    shape.splice(d, 0, size);
    return { shape, dtype: a.dtype };
  });
  return stage(
    (...xs) =>
      vmapFlat(
        (...ys) => evalGraph(g, ys),
        size,
        xs,
        dims,
        (n) => new globalThis.Array(n).fill(outDim),
      ),
    avals,
  );
}

/** Applies a staged graph (the primitive behind jit). */
export const callP: Primitive<CallParams> = definePrimitive({
  name: 'call',
  partialEval: partialEvalCall,
  props: { control: true, staged: true, inline: 'graph' },
  abstractEval(avals, { graph, name }) {
    const want = graph.inAvals;
    if (
      avals.length !== want.length ||
      avals.some((a, i) => a.dtype !== want[i].dtype || !shapesEqual(a.shape, want[i].shape))
    ) {
      throw new ValueError(
        `${name}: called with ${avals.map(avalString).join(', ')} but traced for ${want.map(avalString).join(', ')}`,
      );
    }
    return graph.outAvals;
  },
  // Tracing checked each equation of the staged graph, so evaluation calls each kernel directly.
  impl: (args, { graph }) => interpret(graph, args),
  // A nested jit is inlined into the enclosing ONNX graph.
  onnx: (e, inputs, { graph }) => e.inline(graph, inputs),
  jvp(primals, tangents, { graph, name }) {
    const { graph: g, consts } = jvpGraph(graph);
    const outs = bind(callP, [...consts, ...primals, ...tangents], { graph: g, name: `jvp(${name})` });
    const n = graph.outs.length;
    return [outs.slice(0, n), outs.slice(n)];
  },
  batch(vals, dims, { graph, name }, size) {
    const { graph: g, consts } = vmapGraph(graph, dims, size);
    const outs = bind(callP, [...consts, ...vals], { graph: g, name: `vmap(${name})` });
    return [outs, outs.map(() => 0)];
  },
  // The transpose of a (linear) jitted call is itself a jitted call.
  transpose(cts, inputs, { graph, name }) {
    const linear = inputs.map((x) => x instanceof UndefinedPrimal);
    const { graph: t, consts } = transposeGraph(graph, linear);
    const outs = bind(callP, [...consts, ...(inputs.filter((_, i) => !linear[i]) as Array[]), ...cts], {
      graph: t,
      name: `transpose(${name})`,
    });
    let k = 0;
    return linear.map((l) => (l ? outs[k++] : null));
  },
});

/** Options of {@link jit}. @category Transforms */
export interface JitOptions {
  /** Positional arguments that are static: part of the cache key, never traced. */
  staticArgnums?: number[];
  /**
   * Positional arguments whose buffers the compiled function may reuse for its outputs; the
   * donated arrays become unusable. On the CPU, memory that an earlier call returned (and no one
   * viewed or reshaped) is written by an output of its size: in the same call where every node
   * reading the argument runs before that output is written (an optimizer's moments update in
   * place), else by the next call's.
   */
  donateArgnums?: number[];
  /** Run on this backend: 'webgpu' uploads CPU array arguments; 'cpu' refuses WebGPU arrays. */
  device?: 'cpu' | 'webgpu';
}

/** A jitted function, with its trace counter (for tests) and its cache. */
export type Jitted<F> = F & { traceCount: number; clearCache(): void };

/**
 * Stages `f` on actual arguments: array leaves become graph inputs, everything else (and the
 * positional arguments in `statics`) is baked in.
 */
function stageCall(f: (...args: any[]) => unknown, args: unknown[], statics: Set<number>) {
  const [leaves, def] = flatten<unknown>(args.map((a, i) => (statics.has(i) ? null : a)));
  const isDyn = leaves.map((l) => l instanceof Array);
  const arrays = leaves.filter((l): l is Array => l instanceof Array);
  let outDef: TreeDef | undefined;
  const stageNow = () =>
    stage(
      (...xs) => {
        let k = 0;
        const rebuilt = unflatten(
          def,
          leaves.map((l, i) => (isDyn[i] ? xs[k++] : l)),
        );
        const [outs, od] = flatten<unknown>(f(...args.map((a, i) => (statics.has(i) ? a : rebuilt[i]))));
        outDef = od;
        return outs.map((o) => (o instanceof Array ? o : toArray(o, 'jit')));
      },
      arrays.map((a) => a.aval),
    );
  return { leaves, def, isDyn, arrays, stageNow, outDef: () => outDef! };
}

/**
 * Whether jit typechecks each graph it stages again (JAX's `jax_enable_checks`): tracing checked
 * every equation's types as it bound it, and only a rewrite of the graph (CSE, algebra, DCE) could
 * break them, so the check is for the library's own tests (`FLUXION_CHECKS=1`), not every user's
 * first call (ResNet-18's training step, 2,016 equations: 10-14 ms).
 */
const checksEnabled = typeof process !== 'undefined' && process.env?.FLUXION_CHECKS === '1';

/**
 * Compiles `f`: the first call with new shapes/dtypes/static values traces it into a Graph
 * (optimised by CSE, algebraic rewrites and DCE); later calls reuse it. Non-array leaves
 * (numbers, strings) are static without ceremony: they join the cache key.
 * @example
 * const step = jit((params, x) => tree.map((p, g) => p.subtract(g.multiply(0.1)), params, grad(loss)(params, x)));
 * @category Transforms
 */
export function jit<F extends (...args: any[]) => any>(f: F, opts: JitOptions = {}): Jitted<F> {
  const cache = new Map<string, { closed: ClosedGraph; outDef: TreeDef }>();
  const statics = new Set(opts.staticArgnums ?? []);
  const donated = new Set(opts.donateArgnums ?? []);
  const name = f.name || 'jit';
  const jitted = ((...args: any[]) => {
    // One walk over the arguments gives the cache key, the leaves and where each argument's leaves start.
    const leaves: unknown[] = [];
    const starts: number[] = [];
    let key = '[';
    args.forEach((a, i) => {
      starts.push(leaves.length);
      key += (statics.has(i) ? 'n' : signature(a, avalString, leaves)) + ',';
    });
    starts.push(leaves.length);
    key += ']' + (statics.size ? JSON.stringify(args.filter((_, i) => statics.has(i))) : '');
    let entry = cache.get(key);
    if (!entry) {
      jitted.traceCount++;
      const call = stageCall(f, args, statics);
      const closed = call.stageNow();
      if (checksEnabled) typecheckGraph(closed.graph);
      entry = { closed, outDef: call.outDef() };
      // Arrays the function made or closed over belong to the program: they go where it runs.
      for (const c of closed.consts) if (c instanceof ConcreteArray) weakConstants.add(c);
      // Graphs that captured values of an enclosing transform are valid for this call only.
      if (!closed.consts.some((c) => c instanceof Tracer)) cache.set(key, entry);
    }
    // The array leaves, and the donated ones' graph input positions (after the captured constants).
    const nc = entry.closed.consts.length;
    const arrays: Array[] = [];
    const donate: number[] = [];
    args.forEach((_, i) => {
      for (let k = starts[i]; k < starts[i + 1]; k++) {
        const leaf = leaves[k];
        if (!(leaf instanceof Array)) continue;
        if (donated.has(i)) donate.push(nc + arrays.length);
        arrays.push(leaf);
      }
    });
    const params: CallParams = {
      graph: entry.closed.graph,
      name,
      ...(opts.device ? { device: opts.device } : {}),
      ...(donate.length ? { donate } : {}),
      ...(nc ? { consts: nc } : {}),
    };
    return unflatten(entry.outDef, bind(callP, [...entry.closed.consts, ...arrays], params));
  }) as Jitted<F>;
  jitted.traceCount = 0;
  jitted.clearCache = () => cache.clear();
  return jitted;
}

/**
 * Traces `f` on the given arguments and returns its Graph (like `jax.make_jaxpr`); print it to read the program.
 * @example console.log(makeGraph((x) => np.sin(x).multiply(2))(np.ones([3])).toString())
 * @category Transforms
 */
export function makeGraph<F extends (...args: any[]) => any>(f: F): (...args: Parameters<F>) => Graph {
  return (...args) => makeClosedGraph(f)(...args).graph;
}

/** Like {@link makeGraph}, with the values of the graph's leading constant inputs (the arrays `f` closes over). */
export function makeClosedGraph<F extends (...args: any[]) => any>(f: F): (...args: Parameters<F>) => ClosedGraph {
  return (...args) => stageCall(f, args, new Set()).stageNow();
}
