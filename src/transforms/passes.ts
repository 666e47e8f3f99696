/**
 * Graph-to-graph passes: dead-code elimination, common-subexpression elimination and call
 * inlining. Each is a small rewrite over the equation list; primitives are pure, so any
 * equation whose outputs are unused can go.
 * @module
 */
import { type Atom, type Eqn, Graph, Lit, Var, subGraphs } from '../core/ir.js';
import type { Primitive } from '../core/primitive.js';

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
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'function' || v instanceof Graph) {
    let id = objectIds.get(v as object);
    if (id === undefined) objectIds.set(v as object, (id = nextObjectId++));
    return `#${id}`;
  }
  if (globalThis.Array.isArray(v)) {
    let key = '[';
    for (const x of v) key += `${paramKey(x)},`;
    return `${key}]`;
  }
  if (v !== null && typeof v === 'object') {
    let key = '{';
    for (const k in v) key += `${k}:${paramKey((v as Record<string, unknown>)[k])},`;
    return `${key}}`;
  }
  return JSON.stringify(v) ?? String(v);
}

/**
 * Merges equations that apply the same primitive with the same params to the same inputs. Params
 * are compared (as text) only between equations that already share primitive and inputs: most
 * equations have no such twin, and writing every equation's params out was most of the pass.
 */
export function cse(g: Graph): Graph {
  const seen = new Map<string, { params: object; key?: string; outs: readonly Var[] }[]>();
  const rename = new Map<number, Atom>();
  const sub = (a: Atom): Atom => (a instanceof Var ? (rename.get(a.id) ?? a) : a);
  const eqns: Eqn[] = [];
  for (const e of g.eqns) {
    const inputs = e.inputs.map(sub);
    let applied = `${e.prim.name}|`;
    for (const a of inputs) applied += a instanceof Lit ? `L${paramKey(a.value)}:${a.aval.dtype},` : `v${a.id},`;
    const twins = seen.get(applied);
    const key = twins && paramKey(e.params);
    const twin = twins?.find((t) => (t.key ??= paramKey(t.params)) === key);
    if (twin) {
      e.outs.forEach((v, i) => rename.set(v.id, twin.outs[i]));
      continue;
    }
    const entry = { params: e.params, key, outs: e.outs };
    if (twins) twins.push(entry);
    else seen.set(applied, [entry]);
    eqns.push({ ...e, inputs });
  }
  return new Graph(g.inVars, eqns, g.outs.map(sub));
}

/**
 * Algebraic rewrites, each a small rule (tinygrad-style). They fold transposes into
 * contractions, which reverse mode produces around every dot_general:
 * - dot_general(transpose(a), b) reads `a` directly when the free axes keep their order;
 * - transpose(dot_general(a, b)) that only swaps the two operands' free axes becomes
 *   dot_general(b, a) (when the dot has no other use).
 */
export function simplify(g: Graph, prims: { dot: Primitive; transpose: Primitive }): Graph {
  const defs = new Map<number, Eqn>();
  const uses = new Map<number, number>();
  for (const e of g.eqns) for (const a of e.inputs) if (a instanceof Var) uses.set(a.id, (uses.get(a.id) ?? 0) + 1);
  for (const a of g.outs) if (a instanceof Var) uses.set(a.id, (uses.get(a.id) ?? 0) + 1);
  const eqns = g.eqns.map((e) => {
    let r = e;
    if (r.prim === prims.dot) r = foldTransposeIntoDot(r, 0, defs, prims) ?? r;
    if (r.prim === prims.dot) r = foldTransposeIntoDot(r, 1, defs, prims) ?? r;
    if (r.prim === prims.transpose) r = swapDotOperands(r, defs, uses, prims) ?? r;
    for (const v of r.outs) defs.set(v.id, r);
    return r;
  });
  return new Graph(g.inVars, eqns, g.outs);
}

type DotP = { contract: [number[], number[]]; batch: [number[], number[]] };
const freeOf = (nd: number, p: DotP, side: 0 | 1) =>
  [...Array(nd).keys()].filter((k) => !p.contract[side].includes(k) && !p.batch[side].includes(k));

// dot_general(transpose(a, perm), b): rename the operand's axes through perm.
function foldTransposeIntoDot(
  e: Eqn,
  side: 0 | 1,
  defs: Map<number, Eqn>,
  prims: { transpose: Primitive },
): Eqn | null {
  const t = e.inputs[side] instanceof Var ? defs.get((e.inputs[side] as Var).id) : undefined;
  if (!t || t.prim !== prims.transpose) return null;
  const perm = (t.params as { perm: number[] }).perm;
  const p = e.params as DotP;
  const nd = perm.length;
  const free = freeOf(nd, p, side).map((k) => perm[k]);
  if (free.some((k, i) => i > 0 && k < free[i - 1])) return null; // free-axis order would change
  const map = (axes: number[]) => axes.map((k) => perm[k]);
  const contract: [number[], number[]] =
    side === 0 ? [map(p.contract[0]), p.contract[1]] : [p.contract[0], map(p.contract[1])];
  const batch: [number[], number[]] = side === 0 ? [map(p.batch[0]), p.batch[1]] : [p.batch[0], map(p.batch[1])];
  const inputs = [...e.inputs];
  inputs[side] = t.inputs[0];
  return { ...e, inputs, params: { contract, batch } };
}

// transpose(dot_general(a, b)) whose perm is [batch, rhs free, lhs free] -> dot_general(b, a).
function swapDotOperands(
  e: Eqn,
  defs: Map<number, Eqn>,
  uses: Map<number, number>,
  prims: { dot: Primitive },
): Eqn | null {
  const x = e.inputs[0];
  const d = x instanceof Var ? defs.get(x.id) : undefined;
  if (!d || d.prim !== prims.dot || uses.get((x as Var).id) !== 1) return null;
  const p = d.params as DotP;
  const [a, b] = d.inputs;
  const nb = p.batch[0].length,
    nl = freeOf(a.aval.shape.length, p, 0).length,
    nr = freeOf(b.aval.shape.length, p, 1).length;
  const want = [
    ...Array(nb).keys(),
    ...Array.from({ length: nr }, (_, i) => nb + nl + i),
    ...Array.from({ length: nl }, (_, i) => nb + i),
  ];
  const perm = (e.params as { perm: number[] }).perm;
  if (perm.length !== want.length || perm.some((v, i) => v !== want[i])) return null;
  return {
    prim: prims.dot,
    inputs: [b, a],
    params: { contract: [p.contract[1], p.contract[0]], batch: [p.batch[1], p.batch[0]] },
    outs: e.outs,
  };
}

/** Copies the equations of `g` with fresh variables, inputs bound to `args`; returns the outputs. */
export function inlineInto(g: Graph, args: readonly Atom[], emit: (e: Eqn) => void): Atom[] {
  const env = new Map<number, Atom>();
  g.inVars.forEach((v, i) => env.set(v.id, args[i]));
  const read = (a: Atom): Atom => (a instanceof Var ? (env.get(a.id) ?? a) : a);
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
  const sub = (a: Atom): Atom => (a instanceof Var ? (rename.get(a.id) ?? a) : a);
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
