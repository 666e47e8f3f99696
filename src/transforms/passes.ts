/**
 * Graph-to-graph passes: dead-code elimination, common-subexpression elimination and call
 * inlining. Each is a small rewrite over the equation list; primitives are pure, so any
 * equation whose outputs are unused can go.
 * @module
 */
import { type Atom, type Eqn, Graph, Lit, Var, subGraphs } from '../core/ir.js';

/** Removes equations whose outputs nothing uses (recursing into sub-graphs is not needed: they are values). */
export function dce(g: Graph): Graph {
  const live = new Set<number>();
  for (const a of g.outs) if (a instanceof Var) live.add(a.id);
  const kept: Eqn[] = [];
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    const e = g.eqns[i];
    if (!e.outs.some((v) => live.has(v.id))) continue;
    kept.push(e);
    for (const a of e.inputs) if (a instanceof Var) live.add(a.id);
  }
  return new Graph(g.inVars, kept.reverse(), g.outs);
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
function paramKey(v: unknown): string {
  if (typeof v === 'function' || v instanceof Graph) {
    let id = objectIds.get(v as object);
    if (id === undefined) objectIds.set(v as object, (id = nextObjectId++));
    return `#${id}`;
  }
  if (globalThis.Array.isArray(v)) return `[${v.map(paramKey).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}:${paramKey(x)}`).join(',')}}`;
  return JSON.stringify(v) ?? String(v);
}

/** Merges equations that apply the same primitive with the same params to the same inputs. */
export function cse(g: Graph): Graph {
  const seen = new Map<string, readonly Var[]>();
  const rename = new Map<number, Atom>();
  const sub = (a: Atom): Atom => (a instanceof Var ? rename.get(a.id) ?? a : a);
  const eqns: Eqn[] = [];
  for (const e of g.eqns) {
    const inputs = e.inputs.map(sub);
    const key = `${e.prim.name}|${paramKey(e.params)}|${inputs.map((a) => (a instanceof Lit ? `L${a.value}:${a.aval.dtype}` : `v${a.id}`)).join(',')}`;
    const prev = seen.get(key);
    if (prev) {
      e.outs.forEach((v, i) => rename.set(v.id, prev[i]));
      continue;
    }
    seen.set(key, e.outs);
    eqns.push({ ...e, inputs });
  }
  return new Graph(g.inVars, eqns, g.outs.map(sub));
}

/** Copies the equations of `g` with fresh variables, inputs bound to `args`; returns the outputs. */
export function inlineInto(g: Graph, args: readonly Atom[], emit: (e: Eqn) => void): Atom[] {
  const env = new Map<number, Atom>();
  g.inVars.forEach((v, i) => env.set(v.id, args[i]));
  const read = (a: Atom): Atom => (a instanceof Var ? env.get(a.id) ?? a : a);
  for (const e of g.eqns) {
    const outs = e.outs.map((v) => new Var(v.aval));
    e.outs.forEach((v, i) => env.set(v.id, outs[i]));
    emit({ prim: e.prim, params: e.params, inputs: e.inputs.map(read), outs });
  }
  return g.outs.map(read);
}

/** Inlines every equation whose primitive satisfies `shouldInline` (recursively). */
export function inlineCalls(g: Graph, shouldInline: (e: Eqn) => boolean): Graph {
  const eqns: Eqn[] = [];
  const rename = new Map<number, Atom>();
  const sub = (a: Atom): Atom => (a instanceof Var ? rename.get(a.id) ?? a : a);
  const emit = (e: Eqn): void => {
    const inputs = e.inputs.map(sub);
    if (shouldInline(e)) {
      const body = subGraphs(e.params)[0];
      const outs = inlineInto(body, inputs, emit);
      e.outs.forEach((v, i) => rename.set(v.id, outs[i]));
    } else eqns.push({ ...e, inputs });
  };
  g.eqns.forEach(emit);
  return new Graph(g.inVars, eqns, g.outs.map(sub));
}
