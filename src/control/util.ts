/**
 * Helpers for higher-order primitives: tracing user functions of pytrees into graphs and
 * giving several graphs one shared list of constants.
 * @module
 */
import { Array, type ShapedArray, avalString } from '../core/array.js';
import { ShapeError } from '../core/errors.js';
import { type Eqn, Graph, Lit, Var } from '../core/ir.js';
import type { Primitive } from '../core/primitive.js';
import { shapesEqual } from '../core/shape.js';
import type { ClosedGraph } from '../core/staging.js';
import { type TreeDef, structureString, structuresEqual } from '../tree.js';
import { leafPaths } from '../transforms/flat.js';
import { broadcastInDimP } from '../primitives/index.js';

/** Gives each closed graph the inputs `[...allConsts, ...ownArgs]`, so they can share one operand list. */
export function joinConsts(cs: readonly ClosedGraph[]): { graphs: Graph[]; consts: Array[] } {
  const consts = cs.flatMap((c) => c.consts);
  let offset = 0;
  const graphs = cs.map((c) => {
    const k = c.consts.length;
    const before = consts.slice(0, offset).map((x) => new Var(x.aval));
    const after = consts.slice(offset + k).map((x) => new Var(x.aval));
    offset += k;
    return new Graph(
      [...before, ...c.graph.inVars.slice(0, k), ...after, ...c.graph.inVars.slice(k)],
      c.graph.eqns,
      c.graph.outs,
    );
  });
  return { graphs, consts };
}

/** The same graph with inputs and outputs reordered by index lists. */
export const reorder = (g: Graph, ins: number[], outs: number[]): Graph =>
  new Graph(
    ins.map((i) => g.inVars[i]),
    g.eqns,
    outs.map((i) => g.outs[i]),
  );

/** An equation creating zeros of `aval` (for padding residual lists). */
export function zerosEqn(aval: ShapedArray): { eqn: Eqn; out: Var } {
  const out = new Var(aval);
  return {
    eqn: {
      prim: broadcastInDimP as Primitive,
      inputs: [new Lit(0, aval.dtype)],
      params: { shape: [...aval.shape], dims: [] },
      outs: [out],
    },
    out,
  };
}

/** Throws unless two leaf lists agree in structure, shapes and dtypes (carry checks). */
export function checkSameTypes(
  fn: string,
  what: string,
  def: TreeDef,
  avals: readonly ShapedArray[],
  def2: TreeDef,
  avals2: readonly ShapedArray[],
): void {
  if (!structuresEqual(def, def2))
    throw new ShapeError(
      `${fn}: ${what} has structure ${structureString(def2)} but should have ${structureString(def)}`,
    );
  const paths = leafPaths(def, 'carry').map((p) => p.replace(/^carry\[0\]/, 'carry'));
  avals.forEach((a, i) => {
    const b = avals2[i];
    if (a.dtype !== b.dtype || !shapesEqual(a.shape, b.shape)) {
      throw new ShapeError(
        `${fn}: ${what} changes ${paths[i]} from ${avalString(a)} to ${avalString(b)}; the carry must keep its ` +
          `shape and dtype`,
      );
    }
  });
}
