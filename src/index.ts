/**
 * Fluxion: JAX for TypeScript. The public API, re-exports only.
 * @module
 */
export * as np from './np/index.js';
export * as lax from './lax.js';
export * as tree from './tree.js';
export * as random from './random.js';
export { Array, ConcreteArray, memoryStats } from './core/array.js';
export type { ArrayLike, NestedArray, ShapedArray, Index } from './core/array.js';
export type { DType } from './core/dtype.js';
export { Graph, printGraph, typecheckGraph } from './core/ir.js';
export { registry, type Primitive } from './core/primitive.js';
export { FluxionError, ShapeError, DTypeError, ValueError, OptionError, TraceError } from './core/errors.js';
export type { Tree, TreeDef } from './tree.js';
