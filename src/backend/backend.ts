/**
 * The interface every backend implements: compile a graph once, run it many times. The CPU has
 * two: `onnx` (ONNX Runtime sessions) and `js` (the primitives' own JavaScript kernels, always
 * present); WebGPU compiles graphs into fused WGSL kernels (src/backend/webgpu.ts).
 * @module
 */
import type { ConcreteArray } from '../core/array.js';
import type { Graph } from '../core/ir.js';
import { interpret } from '../core/staging.js';

/** A compiled graph. */
export interface Executable {
  run(args: ConcreteArray[]): ConcreteArray[];
  /** What runs where, one line per step (for debugging). */
  readonly plan: string;
}

/** A backend that compiles whole graphs for CPU arrays. */
export interface GraphBackend {
  readonly name: 'onnx' | 'js';
  compile(graph: Graph): Executable;
}

/** The JavaScript backend: each equation's CPU kernel in turn. */
export const jsBackend: GraphBackend = {
  name: 'js',
  compile: (graph) => ({ run: (args) => interpret(graph, args), plan: graph.eqns.map((e, i) => `step ${i}: js ${e.prim.name}`).join('\n') }),
};
