/**
 * The Graph IR: a typed, first-order program `{inVars, eqns, outs}` over `Var | Lit` atoms.
 * Immutable data with a compact printer (used in errors, docs and tests) and a typechecker.
 * @module
 */
import { type ShapedArray, avalString } from './array.js';
import type { DType } from './dtype.js';
import { shapesEqual } from './shape.js';
import { FluxionError } from './errors.js';
import type { Params, Primitive } from './primitive.js';

let nextVarId = 0;
/** A variable: defined once, by a graph input or an equation output. */
export class Var {
  readonly id = nextVarId++;
  constructor(readonly aval: ShapedArray) {}
}
/** A scalar literal inlined into an equation. */
export class Lit {
  readonly aval: ShapedArray;
  constructor(
    readonly value: number,
    dtype: DType,
  ) {
    this.aval = { shape: [], dtype };
  }
}
export type Atom = Var | Lit;

/** One primitive application. */
export interface Eqn {
  readonly prim: Primitive;
  readonly inputs: readonly Atom[];
  readonly params: Params;
  readonly outs: readonly Var[];
}

/** A typed program. Constants captured while tracing are leading inputs (see ClosedGraph). */
export class Graph {
  constructor(
    readonly inVars: readonly Var[],
    readonly eqns: readonly Eqn[],
    readonly outs: readonly Atom[],
  ) {}
  /** The program of one equation: `prim` applied to inputs of `inAvals` (how eager operations are compiled). */
  static ofEquation(prim: Primitive, inAvals: ShapedArray[], params: Params): Graph {
    const ins = inAvals.map((a) => new Var(a));
    const outs = prim.abstractEval(inAvals, params).map((a) => new Var(a));
    return new Graph(ins, [{ prim, inputs: ins, params, outs }], outs);
  }
  get inAvals(): ShapedArray[] {
    return this.inVars.map((v) => v.aval);
  }
  get outAvals(): ShapedArray[] {
    return this.outs.map((v) => v.aval);
  }
  toString(): string {
    return printGraph(this);
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** Is this param value a Graph (or list of Graphs)? Printers and passes look inside. */
export const subGraphs = (params: Params): Graph[] =>
  Object.values(params as Record<string, unknown>).flatMap((v) =>
    v instanceof Graph ? [v] : globalThis.Array.isArray(v) ? v.filter((g) => g instanceof Graph) : [],
  );

function varNamer(): (v: Var) => string {
  const names = new Map<number, string>();
  return (v) => {
    let n = names.get(v.id);
    if (n === undefined) {
      let i = names.size;
      n = '';
      do {
        n = String.fromCharCode(97 + (i % 26)) + n;
        i = Math.floor(i / 26) - 1;
      } while (i >= 0);
      names.set(v.id, n);
    }
    return n;
  };
}

function fmtParam(v: unknown, indent: string): string {
  if (v instanceof Graph) return '{\n' + printGraph(v, indent + '    ') + '\n' + indent + '  }';
  if (globalThis.Array.isArray(v)) return '[' + v.map((x) => fmtParam(x, indent)).join(', ') + ']';
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Prints a graph as compact jaxpr-like text. */
export function printGraph(g: Graph, indent = ''): string {
  const name = varNamer();
  const atom = (a: Atom) => (a instanceof Lit ? String(a.value) : name(a));
  const typed = (v: Var) => `${name(v)}:${avalString(v.aval)}`;
  const lines = [`${indent}{ lambda ${g.inVars.map(typed).join(', ')} .`];
  for (const e of g.eqns) {
    const ps = Object.entries(e.params as Record<string, unknown>)
      .map(([k, v]) => `${k}=${fmtParam(v, indent)}`)
      .join(' ');
    lines.push(
      `${indent}  let ${e.outs.map(typed).join(' ')} = ${e.prim.name}${ps ? '[' + ps + ']' : ''} ` +
        `${e.inputs.map(atom).join(' ')}`,
    );
  }
  lines.push(`${indent}  in ( ${g.outs.map(atom).join(', ')} ) }`);
  return lines.join('\n');
}

const avalsEqual = (a: ShapedArray, b: ShapedArray) => a.dtype === b.dtype && shapesEqual(a.shape, b.shape);

/** Checks that every variable is defined once before use and every equation's types hold. */
export function typecheckGraph(g: Graph): void {
  const env = new Set<number>();
  const def = (v: Var) => {
    if (env.has(v.id)) throw new FluxionError(`typecheck: variable defined twice\n${g}`);
    env.add(v.id);
  };
  g.inVars.forEach(def);
  for (const e of g.eqns) {
    for (const a of e.inputs)
      if (a instanceof Var && !env.has(a.id))
        throw new FluxionError(`typecheck: ${e.prim.name} uses an undefined variable\n${g}`);
    const outs = e.prim.abstractEval(
      e.inputs.map((a) => a.aval),
      e.params,
    );
    if (outs.length !== e.outs.length || outs.some((o, i) => !avalsEqual(o, e.outs[i].aval))) {
      throw new FluxionError(
        `typecheck: ${e.prim.name} produces ${outs.map(avalString)} but declares ` +
          `${e.outs.map((v) => avalString(v.aval))}`,
      );
    }
    e.outs.forEach(def);
  }
  for (const a of g.outs)
    if (a instanceof Var && !env.has(a.id))
      throw new FluxionError(`typecheck: output uses an undefined variable\n${g}`);
}
