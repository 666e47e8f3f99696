/**
 * Partial evaluation of a Graph: given which inputs are unknown, split it into a known graph
 * (computable now) and an unknown graph that takes the known graph's residuals. Applied to
 * a jvp graph with unknown tangents this is linearize: the unknown part is linear.
 * @module
 */
import { type Atom, type Eqn, Graph, Var } from '../core/ir.js';
import { dce } from './passes.js';

/** Result of {@link partialEval}. */
export interface PartialGraphs {
  /** known inputs -> [known outputs (in order), ...residuals] */
  known: Graph;
  /** [...residuals, ...unknown inputs] -> outputs that are unknown or instantiated */
  unknown: Graph;
  /** Which outputs come from the unknown graph. */
  outUnknown: boolean[];
  /** Which outputs the known graph returns (before the residuals). */
  outKnown: boolean[];
  numResiduals: number;
  /** The residual variables as they appear in the original graph. */
  residuals: Var[];
}

/**
 * Splits `g`. `instantiate[i]` forces output i into the unknown graph even if it is known
 * (it then travels as a residual).
 */
export function partialEval(
  g: Graph,
  unknownIns: boolean[],
  instantiate: boolean[] = g.outs.map(() => false),
): PartialGraphs {
  const unknown = new Set<number>();
  g.inVars.forEach((v, i) => unknownIns[i] && unknown.add(v.id));
  const isUnknown = (a: Atom) => a instanceof Var && unknown.has(a.id);
  const knownEqns: Eqn[] = [];
  const unknownEqns: Eqn[] = [];
  for (const e of g.eqns) {
    const flags = e.inputs.map(isUnknown);
    if (!flags.some(Boolean)) {
      knownEqns.push(e);
      continue;
    }
    if (e.prim.partialEval) {
      const r = e.prim.partialEval(e, flags);
      knownEqns.push(...r.known);
      unknownEqns.push(...r.unknown);
      e.outs.forEach((v, i) => r.outUnknown[i] && unknown.add(v.id));
    } else {
      unknownEqns.push(e);
      e.outs.forEach((v) => unknown.add(v.id));
    }
  }
  const outUnknown = g.outs.map((a, i) => isUnknown(a) || instantiate[i]);
  // Residuals: known variables the unknown side reads.
  const residuals: Var[] = [];
  const seen = new Set<number>();
  const need = (a: Atom) => {
    if (a instanceof Var && !unknown.has(a.id) && !seen.has(a.id)) {
      seen.add(a.id);
      residuals.push(a);
    }
  };
  const unknownGraph0 = dce(
    new Graph(
      [],
      unknownEqns,
      g.outs.filter((_, i) => outUnknown[i]),
    ),
  );
  unknownGraph0.eqns.forEach((e) => e.inputs.forEach(need));
  unknownGraph0.outs.forEach(need);
  // Residual variables are fresh inputs of the unknown graph (the known graph defines the originals).
  const resIn = residuals.map((v) => new Var(v.aval));
  const rename = new Map(residuals.map((v, i) => [v.id, resIn[i]] as const));
  const sub = (a: Atom) => (a instanceof Var ? (rename.get(a.id) ?? a) : a);
  const unknownGraph = new Graph(
    [...resIn, ...g.inVars.filter((_, i) => unknownIns[i])],
    unknownGraph0.eqns.map((e) => ({ ...e, inputs: e.inputs.map(sub) })),
    unknownGraph0.outs.map(sub),
  );
  const knownGraph = dce(
    new Graph(
      g.inVars.filter((_, i) => !unknownIns[i]),
      knownEqns,
      [...g.outs.filter((_, i) => !isUnknown(g.outs[i])), ...residuals],
    ),
  );
  return {
    known: knownGraph,
    unknown: unknownGraph,
    outUnknown,
    outKnown: g.outs.map((a) => !isUnknown(a)),
    numResiduals: residuals.length,
    residuals,
  };
}
