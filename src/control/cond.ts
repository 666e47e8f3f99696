/**
 * `cond` / `switch`: run one of several branch graphs chosen by an int32 index. Under vmap
 * with a batched index every branch runs and results are selected; under grad the branches
 * are partially evaluated and transposed branch by branch.
 * @module
 */
import { Array, avalString } from '../core/array.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { type Eqn, Graph, Var } from '../core/ir.js';
import { type Primitive, UndefinedPrimal, type PartialEvalResult, definePrimitive } from '../core/primitive.js';
import { shapesEqual } from '../core/shape.js';
import { evalGraph, runGraph, traceToGraph } from '../core/staging.js';
import { bind } from '../core/trace.js';
import { broadcastInDim, cast, eq, fullLike, select } from '../primitives/index.js';
import { flatten, unflatten } from '../tree.js';
import { flattenArgs } from '../transforms/flat.js';
import { jvpGraph, stage, vmapGraph } from '../transforms/jit.js';
import { partialEval } from '../transforms/partial.js';
import { backwardPass } from '../transforms/transpose.js';
import { vmapFlat } from '../transforms/vmap.js';
import { checkSameTypes, joinConsts, zerosEqn } from './util.js';
import { toArray } from '../core/convert.js';

type CondParams = { branches: Graph[] };

export const condP: Primitive<CondParams> = definePrimitive({
  name: 'cond',
  partialEval: partialEvalCond,
  props: { control: true },
  abstractEval([index, ...ops], { branches }) {
    if (index.dtype !== 'int32' || index.shape.length !== 0)
      throw new DTypeError(`cond: index must be an int32 scalar, got ${avalString(index)}`);
    for (const b of branches) {
      const ok =
        b.inVars.length === ops.length &&
        b.inAvals.every((a, i) => a.dtype === ops[i].dtype && shapesEqual(a.shape, ops[i].shape));
      if (!ok)
        throw new ShapeError(
          `cond: operands ${ops.map(avalString)} do not match branch inputs ${b.inAvals.map(avalString)}`,
        );
    }
    return branches[0].outAvals;
  },
  impl([index, ...ops], { branches }) {
    const i = Math.min(Math.max(index.item(), 0), branches.length - 1);
    return runGraph(branches[i], ops) as never;
  },
  jvp([index, ...ops], [, ...tangents], { branches }) {
    const { graphs, consts } = joinConsts(branches.map(jvpGraph));
    const outs = bind(condP, [index, ...consts, ...ops, ...tangents], { branches: graphs });
    const n = branches[0].outs.length;
    return [outs.slice(0, n), outs.slice(n)];
  },
  batch([index, ...ops], [di, ...dims], { branches }, size) {
    if (di === null) {
      const { graphs, consts } = joinConsts(branches.map((b) => vmapGraph(b, dims, size)));
      const outs = bind(condP, [index, ...consts, ...ops], { branches: graphs });
      return [outs, outs.map(() => 0)];
    }
    // A batched index: run every branch on the whole batch and select per example.
    const idx = index;
    const results = branches.map((b) =>
      vmapFlat(
        (...xs) => evalGraph(b, xs),
        size,
        ops,
        dims,
        (n) => new globalThis.Array(n).fill(0),
      ),
    );
    const outs = results[0].map((_, k) => {
      let acc = results[0][k];
      for (let i = 1; i < branches.length; i++) {
        const hit = broadcastInDim(eq(idx, fullLike(idx, i)), acc.shape, [0]);
        acc = select(hit, results[i][k], acc);
      }
      return acc;
    });
    return [outs, outs.map(() => 0)];
  },
  transpose(cts, [index, ...ops], { branches }) {
    const lin = ops.map((o) => o instanceof UndefinedPrimal);
    const known = ops.filter((o): o is Array => !(o instanceof UndefinedPrimal));
    const linAvals = ops.filter((o): o is UndefinedPrimal => o instanceof UndefinedPrimal).map((o) => o.aval);
    const transposed = branches.map((b) =>
      stage(
        (...xs) => {
          const res = xs.slice(0, known.length);
          let r = 0,
            l = 0;
          const args = lin.map((isLin) => (isLin ? new UndefinedPrimal(linAvals[l++]) : res[r++]));
          const out = backwardPass(b, args, xs.slice(known.length));
          return out.filter((_, i) => lin[i]) as Array[];
        },
        [...known.map((k) => k.aval), ...cts.map((c) => c.aval)],
      ),
    );
    const { graphs, consts } = joinConsts(transposed);
    const linCts = bind(condP, [index as Array, ...consts, ...known, ...cts], { branches: graphs });
    let l = 0;
    return [null, ...lin.map((isLin) => (isLin ? linCts[l++] : null))];
  },
});

// Partial evaluation: split every branch with the same unknown inputs, make the known/unknown
// split of outputs agree across branches, and pass each branch's residuals (zeros from the others).
function partialEvalCond(eqn: Eqn, unknownIns: boolean[]): PartialEvalResult {
  const branches = (eqn.params as CondParams).branches;
  const opsUnknown = unknownIns.slice(1);
  let inst = eqn.outs.map(() => false);
  let pes = branches.map((b) => partialEval(b, opsUnknown, inst));
  const union = eqn.outs.map((_, i) => pes.some((p) => p.outUnknown[i]));
  if (union.some((u, i) => u !== inst[i])) {
    inst = union;
    pes = branches.map((b) => partialEval(b, opsUnknown, inst));
  }
  const resAvals = pes.flatMap((p) => p.residuals.map((v) => v.aval));
  const knownBranches = pes.map((p, bi) => {
    const extra: Eqn[] = [];
    const resOuts = resAvals.map((a, k) => {
      const start = pes.slice(0, bi).reduce((s, q) => s + q.numResiduals, 0);
      if (k >= start && k < start + p.numResiduals) return p.residuals[k - start];
      const z = zerosEqn(a);
      extra.push(z.eqn);
      return z.out;
    });
    const knownOuts = branches[bi].outs.filter((_, i) => !inst[i]);
    return new Graph(p.known.inVars, [...p.known.eqns, ...extra], [...knownOuts, ...resOuts]);
  });
  const unknownBranches = pes.map((p, bi) => {
    const start = pes.slice(0, bi).reduce((s, q) => s + q.numResiduals, 0);
    const resIn = resAvals.map((a, k) =>
      k >= start && k < start + p.numResiduals ? p.unknown.inVars[k - start] : new Var(a),
    );
    return new Graph([...resIn, ...p.unknown.inVars.slice(p.numResiduals)], p.unknown.eqns, p.unknown.outs);
  });
  const resVars = resAvals.map((a) => new Var(a));
  const [index, ...ops] = eqn.inputs;
  const known: Eqn = {
    prim: condP,
    params: { branches: knownBranches },
    inputs: [index, ...ops.filter((_, i) => !opsUnknown[i])],
    outs: [...eqn.outs.filter((_, i) => !inst[i]), ...resVars],
  };
  const unknown: Eqn = {
    prim: condP,
    params: { branches: unknownBranches },
    inputs: [index, ...resVars, ...ops.filter((_, i) => opsUnknown[i])],
    outs: eqn.outs.filter((_, i) => inst[i]),
  };
  return { known: [known], unknown: [unknown], outUnknown: inst };
}

/**
 * Runs `branches[index]` on the operands (pytrees). All branches must return the same
 * structure, shapes and dtypes. The index is clamped into range.
 * @example lax.switch(i, [(x) => x, (x) => np.sin(x)], x)
 * @category Control flow
 */
export function switchCase<T>(
  index: Array | number,
  branches: readonly ((...ops: any[]) => T)[],
  ...operands: unknown[]
): T {
  const [leaves, def] = flattenArgs(operands);
  let outDef: ReturnType<typeof flatten>[1] | undefined;
  let firstAvals: Array['aval'][] = [];
  const closed = branches.map((b, bi) =>
    traceToGraph(
      (...xs) => {
        const [outs, od] = flattenArgs([b(...unflatten(def, xs))]);
        if (bi === 0) [outDef, firstAvals] = [od, outs.map((o) => o.aval)];
        else
          checkSameTypes(
            'switch',
            `branch ${bi}'s output`,
            outDef!,
            firstAvals,
            od,
            outs.map((o) => o.aval),
          );
        return outs;
      },
      leaves.map((l) => l.aval),
    ),
  );
  const { graphs, consts } = joinConsts(closed);
  const idx = cast(toArray(index, 'switch', 'int32'), 'int32');
  if (idx.ndim !== 0) throw new ShapeError(`switch: index must be a scalar, got shape [${idx.shape}]`);
  const outs = bind(condP, [idx, ...consts, ...leaves], { branches: graphs });
  return unflatten(outDef!, outs)[0];
}

/**
 * `pred ? trueFn(...operands) : falseFn(...operands)` as a traced conditional: use it
 * instead of a JS `if` on a traced value.
 * @example lax.cond(np.greater(x, 0), (x) => x, (x) => np.negative(x), x)
 * @category Control flow
 */
export function cond<T>(
  pred: Array | boolean,
  trueFn: (...ops: any[]) => T,
  falseFn: (...ops: any[]) => T,
  ...operands: unknown[]
): T {
  const p = toArray(pred, 'cond');
  if (p.ndim !== 0)
    throw new ShapeError(
      `cond: predicate must be a scalar, got shape [${p.shape}]; use np.where for elementwise choice`,
    );
  return switchCase(cast(cast(p, 'bool'), 'int32'), [falseFn, trueFn], ...operands);
}
