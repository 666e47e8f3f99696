/**
 * Outputs that layers know at `init` without tracing, so that a `module` initialising them need not
 * trace their `apply` (its trace is for shapes only).
 * @module
 */
import { type Array, ShapeDtype } from '../core/array.js';
import { promote } from '../core/dtype.js';
import * as tree from '../tree.js';
import type { InitExample } from './layer.js';

/**
 * Whole outputs (`ShapeDtype` leaves) for a float32 input of the shape `init` was given, keyed by
 * the `init` result: a wrapper that builds a result of its own (`precision`) does not inherit one.
 */
const knownOutputs = new WeakMap<object, InitExample>();

/** `result`, its layer's output for a float32 input known to be `out` (undefined: not known). */
export function withOutput<R extends object>(result: R, out: InitExample | undefined): R {
  if (out !== undefined) knownOutputs.set(result, out);
  return result;
}

/** The output recorded with an `init` result, if any. */
export const knownOutput = (result: object): InitExample | undefined => knownOutputs.get(result);

/** The output of a layer giving an array of `shape` in the dtype of float32 inputs and the `params` leaves. */
export const floatOutput = (shape: readonly number[], params: unknown): ShapeDtype =>
  new ShapeDtype([...shape], promote(['float32', ...tree.leaves<Array>(params).map((p) => p.dtype)]));
