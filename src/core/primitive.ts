/**
 * What a primitive is: one object holding every rule (shape, evaluation, derivative,
 * batching, transpose). Transforms and the compiler only ever call these hooks.
 * @module
 */
import type { Array, ConcreteArray, ShapedArray } from './array.js';
import type { DType } from './dtype.js';

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
  transpose?(cts: Array[], inputs: (Array | UndefinedPrimal)[], params: P): (Array | null)[];
  /**
   * WGSL lowering of an elementwise primitive: an expression of its operands' expressions
   * (`inDTypes` their dtypes). Kernel-shaped primitives are emitted in compile/ instead.
   */
  wgsl?(args: string[], inDTypes: DType[], params: P): string;
  /** Families (tinygrad's GroupOp): passes ask "is it elementwise?" instead of listing ops. */
  readonly props?: {
    elementwise?: boolean;
    linear?: boolean;
    control?: boolean;
    /** Moves elements only: compilers inline it as index arithmetic. */
    view?: boolean;
    /** Needs a kernel of its own on an accelerator (reductions, contractions, scatters). */
    kernel?: boolean;
  };
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
  registry.set(p.name, p);
  return p;
}
