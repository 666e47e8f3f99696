/**
 * What a primitive is: one object holding every rule (shape, evaluation, derivative,
 * batching, transpose). Transforms and the compiler only ever call these hooks.
 * @module
 */
import type { Array, ConcreteArray, ShapedArray } from './array.js';
import type { DType, TypedArray } from './dtype.js';
import type { Eqn, Graph } from './ir.js';
import { checkShape } from './shape.js';

/** Static parameters of an equation (axes, shapes, sub-graphs, ...). */
export type Params = object;

/** Batch axis of a vmapped value; `null` means "not batched". */
export type BatchDim = number | null;

/** Marks an input of a linear equation whose primal is unknown during transposition. */
export class UndefinedPrimal {
  private readonly brand = 'undefined-primal';
  constructor(readonly aval: ShapedArray) {}
}

/**
 * A primitive operation. Multiple outputs are the rule (most have one).
 * - `abstractEval` validates inputs and returns output avals (throws errors naming op and shapes).
 * - `impl` evaluates on concrete CPU arrays.
 * - `jvp` returns primal and tangent outputs, built from other primitives.
 * - `batch` maps batched inputs (with their batch axes) to batched outputs.
 * - `transpose` exists if and only if the primitive is linear in the inputs marked undefined.
 */
export interface Primitive<P extends Params = any> {
  readonly name: string;
  abstractEval(avals: ShapedArray[], params: P): ShapedArray[];
  impl(inputs: ConcreteArray[], params: P): ConcreteArray[];
  jvp?(primals: Array[], tangents: Array[], params: P): [Array[], Array[]];
  batch?(vals: Array[], dims: BatchDim[], params: P, axisSize: number): [Array[], BatchDim[]];
  /**
   * A collective (psum, all_gather, ...) over the mapped axis named `params.axisName`: what it does
   * to that axis when vmap or pmap maps it (`batch` handles other mapped axes, element by element).
   */
  collective?(vals: Array[], dims: BatchDim[], params: P, axisSize: number): [Array[], BatchDim[]];
  transpose?(cts: Array[], inputs: (Array | UndefinedPrimal)[], params: P): (Array | null)[];
  /**
   * WGSL lowering of an elementwise primitive: an expression of its operands' expressions
   * (`inDTypes` their dtypes). Kernel-shaped primitives are emitted in compile/ instead.
   */
  wgsl?(args: string[], inDTypes: DType[], params: P): string;
  /**
   * Partial evaluation with some inputs unknown (higher-order primitives; linearize asks it):
   * equations for the known and the unknown side. Known-side outputs it creates may feed the
   * unknown side. Without it, any unknown input makes the whole equation unknown.
   */
  partialEval?(eqn: Eqn, unknownIns: boolean[]): PartialEvalResult;
  /** ONNX lowering: nodes computing the outputs from the inputs' value names (see {@link OnnxEmitter}). */
  onnx?: OnnxRule<P>;
  /**
   * The params that identify an equation for the persistent compilation cache, where some are
   * functions that the others determine. Without it every param counts, and a function among them
   * keeps the graph out of the cache (a function's text does not show what it closed over).
   */
  cacheParams?(params: P): Params;
  /** Families (tinygrad's GroupOp): passes ask "is it elementwise?" instead of listing ops. */
  readonly props?: {
    elementwise?: boolean;
    linear?: boolean;
    control?: boolean;
    /** Moves elements only: compilers inline it as index arithmetic. */
    view?: boolean;
    /** Needs a kernel of its own on an accelerator (reductions, contractions, scatters). */
    kernel?: boolean;
    /**
     * Reads its operands whole, at positions that depend on the data or on loops (the matrix
     * decompositions): compilers give the operands buffers instead of fusing them in.
     */
    operandsInBuffers?: boolean;
    /**
     * Computes on the host from known values only (MPI's collectives between processes): a backend
     * without a lowering reads its operands back, runs `impl` and carries on with the results.
     */
    host?: boolean;
    /** Applies the staged graph in its params (jit's call): backends compile that graph whole. */
    staged?: boolean;
    /**
     * A reduction over `params.axes` with this identity (0 for sum, -inf for max...): backends may
     * split a long one into partial reductions of padded chunks.
     */
    reduction?: { identity: (dtype: DType) => number };
    /**
     * Compilers replace it by what it wraps: the graph in `params.graph` (a jit call, a
     * checkpoint) or a trace of `params.fun` (custom derivative rules, which only transforms read).
     */
    inline?: 'graph' | 'function';
  };
}

/** What a {@link Primitive.partialEval} rule returns. */
export interface PartialEvalResult {
  known: Eqn[];
  unknown: Eqn[];
  outUnknown: boolean[];
}

/**
 * Tangents known to be zero (constants under jvp). Rules may skip terms for them: e.g. pow's
 * exponent tangent, whose coefficient log(x) is NaN for negative x.
 */
export const symbolicZeros = new WeakSet<object>();

/** Every defined primitive, by name (tests iterate it so none slips through). */
export const registry = new Map<string, Primitive>();

/** Registers and returns a primitive. */
export function definePrimitive<P extends Params>(p: Primitive<P>): Primitive<P> {
  if (registry.has(p.name)) throw new Error(`primitive ${p.name} defined twice`);
  // Every shape a primitive produces is checked here, once for all: sizes computed from user
  // input (a fractional count, a negative repeat, a size past memory) are errors, not arrays.
  const shapeRule = p.abstractEval;
  const checked: Primitive<P> = {
    ...p,
    abstractEval(ins, params) {
      const outs = shapeRule.call(checked, ins, params);
      for (const o of outs) checkShape(p.name, o.shape);
      return outs;
    },
  };
  registry.set(p.name, checked);
  return checked;
}

/** An ONNX node attribute: integers, integer lists and strings as they are; floats as `{ f }`. */
export type OnnxAttr = number | string | readonly number[] | { f: number };

/** An equation as the ONNX lowering sees it: rewrites look through producers (unfold before a contraction). */
export interface OnnxProducer {
  readonly prim: Primitive;
  readonly params: Params;
  /** Names of its inputs. */
  readonly inputs: readonly string[];
  readonly inAvals: ShapedArray[];
}

/** An equation that reads a value, as {@link OnnxEmitter.readers} finds it: which operand the value is. */
export interface OnnxReader {
  readonly prim: Primitive;
  readonly params: Params;
  readonly inAvals: ShapedArray[];
  readonly operand: number;
}

/**
 * What a primitive's ONNX lowering may do. Values are named by strings. Nodes that no output
 * needs are pruned, so a rewrite that reads through a producer costs nothing when it is bypassed.
 */
export interface OnnxEmitter {
  /**
   * Adds a node with one output and returns the output's name. A type with a domain prefix
   * (`com.microsoft.nchwc.Conv`) is that domain's operator. `shape`, where the rule knows the
   * output's shape, lets later reshapes to that shape vanish.
   */
  op(type: string, inputs: readonly string[], attrs?: Record<string, OnnxAttr>, shape?: readonly number[]): string;
  /** Adds a node with `outputs` outputs. */
  ops(type: string, inputs: readonly string[], attrs: Record<string, OnnxAttr>, outputs: number): string[];
  /** A 1-d int64 constant (shapes, axes, pads). */
  ints(values: readonly number[]): string;
  /** A constant of a Fluxion dtype (a 0-d one from a number). */
  constant(value: number | TypedArray, dtype: DType, shape?: readonly number[]): string;
  /**
   * The ONNX element type values of a dtype have inside a lowered graph (its compute dtype: int32 for
   * uint8), or with `stored` the dtype's own (a uint8 mask that stays between two nodes).
   */
  elemType(dtype: DType | 'int64', stored?: boolean): number;
  /** Lowers a sub-graph in place (nested jit, checkpoint) and returns its outputs. */
  inline(graph: Graph, inputs: readonly string[]): string[];
  /** Is a value computed from constants only (ONNX Runtime folds it once, when it loads the model)? */
  isConstant(name: string): boolean;
  /** The equation that produced a value (undefined for inputs and constants). */
  producer(name: string): OnnxProducer | undefined;
  /** The equations of the graph being lowered that read a value (with its operand position in each). */
  readers(name: string): readonly OnnxReader[];
  /**
   * ONNX Runtime's channel block size for its blocked (NCHWc) convolutions on this CPU, where the
   * model is for this process's ONNX Runtime; undefined for portable models (exports).
   */
  readonly nchwcBlock?: number;
  /**
   * The model is for any runtime (an export): lowerings chosen by size for ONNX Runtime's CPU
   * kernels stay out, so that lowerings at different sizes keep one structure.
   */
  readonly portable?: boolean;
}

/** A primitive's ONNX lowering; `avals` are its operand and result types. */
export type OnnxRule<P> = (
  e: OnnxEmitter,
  inputs: string[],
  params: P,
  avals: { ins: ShapedArray[]; outs: ShapedArray[] },
) => string[];
