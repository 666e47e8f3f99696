/**
 * Fluxion: JAX for TypeScript. The public API, re-exports only.
 * @module
 */

// Namespaces
export * as np from './np/index.js';
export * as lax from './lax.js';
export * as tree from './tree.js';
export * as random from './random.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as models from './models/index.js';
export * as onnx from './onnx/index.js';
export * as distributed from './distributed/index.js';
export { pmap } from './distributed/pmap.js';

// Transforms
export { jvp } from './transforms/jvp.js';
export { vmap, type VmapOptions, type Axes } from './transforms/vmap.js';
export { jit, makeGraph, type JitOptions, type Jitted } from './transforms/jit.js';
export {
  grad,
  valueAndGrad,
  vjp,
  linearize,
  jacfwd,
  jacrev,
  hessian,
  type GradOptions,
  type JacobianOptions,
  type GradOf,
  type AuxOf,
} from './transforms/grad.js';
export { stopGradient } from './np/math.js';
export { customJvp, customVjp, checkpoint } from './control/custom.js';

// Arrays
/** `NDArray` is `Array` under a name that does not shadow JavaScript's own `Array`. */
export { Array, Array as NDArray, ConcreteArray, memoryStats, ShapeDtype } from './core/array.js';
export type { ArrayLike, NestedArray, ShapedArray, Index, AtIndex, TypedArrayInput } from './core/array.js';
export type { DType, TypedArray } from './core/dtype.js';
export type { Shape } from './core/shape.js';
export type { Tree, TreeDef } from './tree.js';

// Backends
export {
  devices,
  setDefaultBackend,
  getDefaultBackend,
  toDevice,
  kernelPlan,
  executionPlan,
  setCpuBackend,
  getCpuBackend,
  setCompilationCache,
  GpuArray,
  initWebGPU,
  webgpuMemoryStats,
  webgpuPoolStats,
  PendingArray,
  initOnnxRuntimeWeb,
  type BackendName,
} from './backend/index.js';
export type { OnnxRuntimeWeb, WebSession } from './backend/onnx-web.js';
export type { GpuLayout, WebGPUDevice } from './backend/webgpu.js';

// The IR and primitives (for tools and extensions)
export { Graph, Var, Lit, printGraph, typecheckGraph, type Atom, type Eqn } from './core/ir.js';
export {
  registry,
  UndefinedPrimal,
  type Primitive,
  type Params,
  type BatchDim,
  type OnnxRule,
  type OnnxEmitter,
  type OnnxAttr,
  type OnnxProducer,
  type OnnxReader,
  type PartialEvalResult,
} from './core/primitive.js';

// Errors
export { FluxionError, ShapeError, DTypeError, ValueError, OptionError, TraceError } from './core/errors.js';
