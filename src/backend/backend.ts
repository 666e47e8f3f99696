/**
 * The interfaces backends implement. A {@link Device} holds arrays and runs graphs and eager
 * operations on them (`cpu`, `webgpu`). On the CPU, graphs compile through a {@link GraphBackend}:
 * `onnx` (ONNX Runtime sessions) or `js` (the primitives' own JavaScript kernels, always present);
 * WebGPU compiles graphs into fused WGSL kernels (src/backend/webgpu.ts).
 * @module
 */
import type { Array, ConcreteArray } from '../core/array.js';
import type { Graph } from '../core/ir.js';
import type { Params, Primitive } from '../core/primitive.js';
import { interpret } from '../core/staging.js';

/**
 * A place where arrays live and operations run (`cpu`, `webgpu`). The dispatcher in
 * src/backend/index.ts asks devices these questions and never looks at backend or primitive names.
 */
export interface Device {
  readonly name: 'cpu' | 'webgpu';
  /** Does this array live here? */
  holds(x: Array): boolean;
  /** Copies a CPU array here. */
  place(x: ConcreteArray): Array;
  /**
   * Runs a jitted graph (compiled once, cached) on arrays held here; its first `consts` arguments
   * are the program's own constants, which the device may build into the compiled program.
   */
  runGraph(graph: Graph, args: Array[], donate?: readonly number[], consts?: number): Array[];
  /** Runs one eager primitive, or declines (null) so its JavaScript kernel runs. */
  runPrimitive(prim: Primitive, args: Array[], params: Params): Array[] | null;
}

/** A compiled graph. */
export interface Executable {
  /**
   * Runs the program. `donated` (positions in `args`) are given up: an output may be written into
   * the memory of one of them, which is then disposed.
   */
  run(args: ConcreteArray[], donated?: readonly number[]): ConcreteArray[];
  /** What runs where, one line per step (for debugging). */
  readonly plan: string;
}

/** A backend that compiles whole graphs for CPU arrays. */
export interface GraphBackend {
  readonly name: 'onnx' | 'js';
  /**
   * Compiles `graph`; `constants` (by input position) are the values those inputs will always have,
   * which the backend may build into the program (they are still passed to `run`).
   */
  compile(graph: Graph, constants?: ReadonlyMap<number, ConcreteArray>): Executable;
}

/** The JavaScript backend: each equation's CPU kernel in turn. */
export const jsBackend: GraphBackend = {
  name: 'js',
  compile: (graph) => ({
    run: (args) => interpret(graph, args),
    plan: graph.eqns.map((e, i) => `step ${i}: js ${e.prim.name}`).join('\n'),
  }),
};

/** The values that appear once among `args`. */
export function passedOnce<T>(args: readonly T[]): Set<T> {
  const seen = new Set<T>(),
    twice = new Set<T>();
  for (const x of args) (seen.has(x) ? twice : seen).add(x);
  for (const x of twice) seen.delete(x);
  return seen;
}
