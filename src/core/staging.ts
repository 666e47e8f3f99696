/**
 * Staging: records the primitives a function applies into a {@link Graph}. This is what
 * `jit` and `makeGraph` run, and what transforms use to work on whole programs.
 * @module
 */
import { Array, ConcreteArray, type ShapedArray } from './array.js';
import { type Atom, type Eqn, Graph, Lit, Var } from './ir.js';
import type { Params, Primitive } from './primitive.js';
import { Trace, Tracer, bind, fullRaise, withDynamicTrace, withMainTrace } from './trace.js';

class GraphTracer extends Tracer {
  constructor(
    readonly trace: GraphTrace,
    readonly aval: ShapedArray,
    readonly atom: Atom,
  ) {
    super();
  }
}

class Builder {
  /** Set by {@link traceShapes}: nobody runs the graph, so {@link standIn} may add values computed by nothing. */
  shapesOnly = false;
  eqns: Eqn[] = [];
  constVars: Var[] = [];
  constVals: Array[] = [];
  constsSeen = new Map<Array, GraphTracer>();
}

class GraphTrace extends Trace {
  readonly transform = 'jit';
  get builder(): Builder {
    return this.main.global as Builder;
  }
  private constant(x: Array): Array {
    const b = this.builder;
    let t = b.constsSeen.get(x);
    if (!t) {
      const c = x.toConcrete();
      if (c && c.shape.length === 0 && !(x instanceof Tracer)) {
        t = new GraphTracer(this, c.aval, new Lit(c.buffer[0], c.dtype));
      } else {
        const v = new Var(x.aval);
        b.constVars.push(v);
        b.constVals.push(x);
        t = new GraphTracer(this, x.aval, v);
      }
      b.constsSeen.set(x, t);
    }
    return t;
  }
  pure(x: ConcreteArray): Array {
    return this.constant(x);
  }
  lift(x: Tracer): Array {
    return this.constant(x);
  }
  processPrimitive(prim: Primitive, args: Array[], params: Params): Array[] {
    const inputs = (args as GraphTracer[]).map((t) => t.atom);
    const outAvals = prim.abstractEval(
      inputs.map((a) => a.aval),
      params,
    );
    const outs = outAvals.map((a) => new Var(a));
    this.builder.eqns.push({ prim, inputs, params, outs });
    return outs.map((v) => new GraphTracer(this, v.aval, v));
  }
}

/** A graph together with the values of its leading constant inputs. */
export interface ClosedGraph {
  readonly graph: Graph;
  readonly consts: Array[];
}

/**
 * Traces `fn` on abstract inputs of the given avals into a graph whose inputs are
 * `[...constants, ...arguments]`. Constants are concrete arrays or outer tracers the
 * function closed over.
 */
export function traceToGraph(fn: (...args: Array[]) => Array[], inAvals: readonly ShapedArray[]): ClosedGraph {
  return traceWith(fn, inAvals, new Builder());
}

/**
 * The output avals of `fn` on abstract inputs of the given avals: a trace for shapes, whose graph
 * nobody runs, so that code inside it may {@link standIn} values it already knows the avals of.
 */
export function traceShapes(fn: (...args: Array[]) => Array[], inAvals: readonly ShapedArray[]): ShapedArray[] {
  const builder = new Builder();
  builder.shapesOnly = true;
  return traceWith(fn, inAvals, builder).graph.outAvals;
}

/**
 * A value of `aval` computed by nothing, in `x`'s trace, when that is a {@link traceShapes} (where only
 * avals matter: a layer whose output aval is known need not be traced); null anywhere else.
 */
export function standIn(x: Array, aval: ShapedArray): Array | null {
  if (!(x instanceof GraphTracer) || !x.trace.builder.shapesOnly) return null;
  return new GraphTracer(x.trace, aval, new Var(aval));
}

function traceWith(fn: (...args: Array[]) => Array[], inAvals: readonly ShapedArray[], builder: Builder): ClosedGraph {
  return withMainTrace(
    (m) => new GraphTrace(m),
    builder,
    (main) =>
      withDynamicTrace(main, () => {
        const trace = main.trace as GraphTrace;
        const argVars = inAvals.map((a) => new Var(a));
        const outs = fn(...argVars.map((v) => new GraphTracer(trace, v.aval, v))).map(
          (o) => fullRaise(trace, o) as GraphTracer,
        );
        const graph = new Graph(
          [...builder.constVars, ...argVars],
          builder.eqns,
          outs.map((o) => o.atom),
        );
        return { graph, consts: builder.constVals };
      }),
  );
}

/** Evaluates a graph by binding each equation (so it runs under whatever transforms are active). */
export function evalGraph(graph: Graph, args: readonly Array[]): Array[] {
  const env = new Map<number, Array>();
  const read = (a: Atom): Array => (a instanceof Lit ? ConcreteArray.scalar(a.value, a.aval.dtype) : env.get(a.id)!);
  graph.inVars.forEach((v, i) => env.set(v.id, args[i]));
  for (const e of graph.eqns) {
    const outs = bind(e.prim, e.inputs.map(read), e.params);
    e.outs.forEach((v, i) => env.set(v.id, outs[i]));
  }
  return graph.outs.map(read);
}

/** Evaluates a staged (type-correct) graph on CPU arrays, calling each equation's kernel directly. */
export function interpret(graph: Graph, args: readonly ConcreteArray[]): ConcreteArray[] {
  const env = new Map<number, ConcreteArray>();
  const read = (a: Atom): ConcreteArray =>
    a instanceof Lit ? ConcreteArray.scalar(a.value, a.aval.dtype) : env.get(a.id)!;
  graph.inVars.forEach((v, i) => env.set(v.id, args[i]));
  for (const e of graph.eqns) {
    const outs = e.prim.impl(e.inputs.map(read), e.params);
    e.outs.forEach((v, i) => env.set(v.id, outs[i]));
  }
  return graph.outs.map(read);
}

/** Runs a whole graph on CPU arrays (the backend installs its compiled executor; otherwise equation by equation). */
export type GraphRunner = (graph: Graph, args: ConcreteArray[]) => ConcreteArray[];
let graphRunner: GraphRunner | null = null;
export function installGraphRunner(runner: GraphRunner): void {
  graphRunner = runner;
}

/**
 * Evaluates a graph on concrete values as one unit: control flow runs its bodies through this, so
 * a scan body is a compiled executable called once per step rather than a chain of eager operations.
 */
export function runGraph(graph: Graph, args: readonly Array[]): Array[] {
  return graphRunner && args.every((a) => a instanceof ConcreteArray)
    ? graphRunner(graph, args as ConcreteArray[])
    : evalGraph(graph, args);
}
