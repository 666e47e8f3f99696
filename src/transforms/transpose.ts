/**
 * Transposition of a linear Graph (the backward pass): cotangents flow from outputs to
 * linear inputs through each primitive's transpose rule. Equations that touch no linear
 * value (recomputation, e.g. from checkpoint) are evaluated forward first.
 * @module
 */
import { Array, ConcreteArray } from '../core/array.js';
import { TraceError } from '../core/errors.js';
import { type Atom, Graph, Lit, Var } from '../core/ir.js';
import { UndefinedPrimal } from '../core/primitive.js';
import { bind } from '../core/trace.js';
import { add, zerosLike } from '../primitives/index.js';

/**
 * `args[i]` is a value for non-linear inputs and an UndefinedPrimal for linear ones; returns
 * the cotangent of each linear input (zeros where nothing flowed).
 */
export function backwardPass(g: Graph, args: (Array | UndefinedPrimal)[], cts: Array[]): (Array | null)[] {
  const linear = new Set<number>();
  const env = new Map<number, Array>();
  g.inVars.forEach((v, i) => {
    const a = args[i];
    if (a instanceof UndefinedPrimal) linear.add(v.id);
    else env.set(v.id, a);
  });
  const read = (a: Atom): Array => (a instanceof Lit ? ConcreteArray.scalar(a.value, a.aval.dtype) : env.get(a.id)!);
  const linearEqns = [];
  for (const e of g.eqns) {
    if (e.inputs.some((a) => a instanceof Var && linear.has(a.id))) {
      linearEqns.push(e);
      e.outs.forEach((v) => linear.add(v.id));
    } else {
      const outs = bind(e.prim, e.inputs.map(read), e.params);
      e.outs.forEach((v, i) => env.set(v.id, outs[i]));
    }
  }
  const ctEnv = new Map<number, Array>();
  const addCt = (a: Atom, ct: Array | null) => {
    if (ct === null || !(a instanceof Var) || !linear.has(a.id)) return;
    const prev = ctEnv.get(a.id);
    ctEnv.set(a.id, prev ? add(prev, ct) : ct);
  };
  g.outs.forEach((a, i) => addCt(a, cts[i]));
  for (let k = linearEqns.length - 1; k >= 0; k--) {
    const e = linearEqns[k];
    if (!e.outs.some((v) => ctEnv.has(v.id))) continue;
    if (!e.prim.transpose)
      throw new TraceError(
        `grad: primitive ${e.prim.name} is not linear in its tangent inputs and cannot be transposed`,
      );
    const outCts = e.outs.map((v) => ctEnv.get(v.id) ?? zerosLike(v.aval));
    e.outs.forEach((v) => ctEnv.delete(v.id));
    const ins = e.inputs.map((a) => (a instanceof Var && linear.has(a.id) ? new UndefinedPrimal(a.aval) : read(a)));
    const inCts = e.prim.transpose(outCts, ins, e.params);
    e.inputs.forEach((a, i) => addCt(a, inCts[i]));
  }
  return g.inVars.map((v, i) => (args[i] instanceof UndefinedPrimal ? (ctEnv.get(v.id) ?? zerosLike(v.aval)) : null));
}
