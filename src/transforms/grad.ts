/**
 * Reverse mode as in JAX: linearize = jvp staged into a Graph + partial evaluation (the
 * unknown part is linear in the tangents); vjp = transpose of that linear graph.
 * @module
 */
import { Array, type ShapedArray, avalString } from '../core/array.js';
import { isFloat } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import type { Graph } from '../core/ir.js';
import { UndefinedPrimal } from '../core/primitive.js';
import { evalGraph, traceToGraph } from '../core/staging.js';
import { cast, eq, fullLike, iota, zerosLike, reshape } from '../primitives/index.js';
import { type TreeDef, unflatten } from '../tree.js';
import { flatFn, flattenArgs, leafPaths, requireFloat } from './flat.js';
import { jvpFlat } from './jvp.js';
import { partialEval } from './partial.js';
import { backwardPass } from './transpose.js';
import { vmapFlat } from './vmap.js';

/** A linear function of the tangents, as a graph and the residuals it closes over. */
export interface LinearFn {
  graph: Graph;
  residuals: Array[];
  inAvals: ShapedArray[];
}

/** linearize on flat lists: primal outputs and the linear map from input tangents to output tangents. */
export function linearizeFlat(fn: (...xs: Array[]) => Array[], primals: Array[]): [Array[], LinearFn] {
  const n = primals.length;
  const avals = primals.map((p) => p.aval);
  const { graph, consts } = traceToGraph(
    (...xt) => {
      const [o, t] = jvpFlat(fn, xt.slice(0, n), xt.slice(n));
      return [...o, ...t];
    },
    [...avals, ...avals],
  );
  const m = graph.outs.length / 2;
  // Jitted calls stay calls: their partial-evaluation and transpose rules keep both passes jitted.
  const nc = consts.length;
  const pe = partialEval(
    graph,
    graph.inVars.map((_, i) => i >= nc + n),
    graph.outs.map((_, i) => i >= m),
  );
  const knownVals = evalGraph(pe.known, [...consts, ...primals]);
  const numKnownOuts = pe.outKnown.filter(Boolean).length;
  return [knownVals.slice(0, m), { graph: pe.unknown, residuals: knownVals.slice(numKnownOuts), inAvals: avals }];
}

/** Applies a linear function forward. */
export const applyLinear = (lin: LinearFn, tangents: Array[]): Array[] =>
  evalGraph(lin.graph, [...lin.residuals, ...tangents]);

/** Applies the transpose of a linear function: cotangents of outputs to cotangents of inputs. */
export const transposeLinear = (lin: LinearFn, cts: Array[]): Array[] =>
  backwardPass(lin.graph, [...lin.residuals, ...lin.inAvals.map((a) => new UndefinedPrimal(a))], cts).slice(
    lin.residuals.length,
  ) as Array[];

/**
 * Linearizes `f` at `primals`: returns `f(...primals)` and the linear map `t -> J t`.
 * @example const [y, fLin] = linearize(np.sin, x); fLin(v) // cos(x) * v
 * @category Transforms
 */
export function linearize<F extends (...args: any[]) => any>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (...tangents: Parameters<F>) => ReturnType<F>] {
  const [leaves, def] = flattenArgs(primals);
  const { fn, outDef } = flatFn(f, def);
  const [outs, lin] = linearizeFlat(fn, leaves);
  const od = outDef();
  return [unflatten(od, outs), (...ts) => unflatten(od, applyLinear(lin, flattenArgs(ts)[0]))];
}

/**
 * Reverse-mode vector-Jacobian product: `f(...primals)` and a function from output
 * cotangents (same structure as the output) to input cotangents (one per argument).
 * @example const [y, back] = vjp(f, x); const [xBar] = back(np.onesLike(y));
 * @category Transforms
 */
export function vjp<F extends (...args: any[]) => any>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (ct: ReturnType<F>) => Parameters<F>] {
  const [leaves, def] = flattenArgs(primals);
  requireFloat('vjp', leaves, leafPaths(def));
  const { fn, outDef } = flatFn(f, def);
  const [outs, lin] = linearizeFlat(fn, leaves);
  const od = outDef();
  return [unflatten(od, outs), (ct) => unflatten(def, transposeLinear(lin, flattenArgs([ct])[0]))];
}

/** Options of {@link grad} and {@link valueAndGrad}. @category Transforms */
export interface GradOptions {
  /** Which positional argument(s) to differentiate (default 0). */
  argnums?: number | readonly number[];
  /** `f` returns `[loss, aux]`; aux is passed through. */
  hasAux?: boolean;
}

/**
 * The type of a gradient: that of the differentiated argument (`argnums` a number, default 0),
 * or a tuple of them (`argnums` a list). A gradient has its argument's tree structure.
 * @category Transforms
 */
export type GradOf<Args extends readonly unknown[], N> = [N] extends [number]
  ? Args[N]
  : [N] extends [readonly number[]]
    ? { -readonly [K in keyof N]: N[K] extends number ? Args[N[K]] : never }
    : Args[0];
/** The auxiliary result of a `hasAux` function (`[loss, aux]`). @category Transforms */
export type AuxOf<R> = R extends readonly [unknown, infer A] ? A : unknown;

/**
 * `f` and its gradient with respect to the `argnums` arguments. `f` must return a float
 * scalar (or `[scalar, aux]` with `hasAux`). Gradients have the structure of the arguments.
 * @example
 * const [loss, g] = valueAndGrad((w) => np.sum(np.square(w)))(np.array([1, 2])); // 5, [2, 4]
 * @category Transforms
 */
export function valueAndGrad<F extends (...args: any[]) => any, const O extends GradOptions = {}>(
  f: F,
  options?: O,
): (...args: Parameters<F>) => [ReturnType<F>, GradOf<Parameters<F>, O['argnums']>] {
  const opts: GradOptions = options ?? {};
  const argnums = opts.argnums ?? 0;
  const list = typeof argnums === 'number' ? [argnums] : argnums;
  return (...args) => {
    for (const i of list)
      if (i < 0 || i >= args.length)
        throw new ShapeError(`grad: argnums ${i} is out of range for ${args.length} arguments`);
    const [leaves, def] = flattenArgs(list.map((i) => args[i]));
    requireFloat(
      'grad',
      leaves,
      leafPaths(def, 'args').map((p) => p.replace(/^args\[(\d+)\]/, (_, k) => `args[${list[Number(k)]}]`)),
    );
    let auxDef: TreeDef | undefined;
    const fn = (...ls: Array[]): Array[] => {
      const full = [...args];
      const diff = unflatten(def, ls);
      list.forEach((a, k) => (full[a] = diff[k]));
      const r = f(...full);
      const [out, aux] = opts.hasAux ? (r as [unknown, unknown]) : [r, undefined];
      if (!(out instanceof Array) || out.ndim !== 0 || !isFloat(out.dtype)) {
        const what = out instanceof Array ? avalString(out) : typeof out;
        throw new DTypeError(
          `grad: the function must return a float scalar${opts.hasAux ? ' (as the first of [value, aux])' : ''}, ` +
            `got ${what}; use vjp or jacrev for non-scalar outputs`,
        );
      }
      const [auxLeaves, ad] = flattenArgs([aux]);
      auxDef = ad;
      return [out, ...auxLeaves];
    };
    const [outs, lin] = linearizeFlat(fn, leaves);
    const cts = outs.map((o, i) => (i === 0 ? fullLike(o, 1) : zerosLike(o)));
    const grads = unflatten(def, transposeLinear(lin, cts));
    const g = typeof argnums === 'number' ? grads[0] : grads;
    const value = opts.hasAux ? [outs[0], unflatten(auxDef!, outs.slice(1))[0]] : outs[0];
    return [value as ReturnType<F>, g as GradOf<Parameters<F>, O['argnums']>];
  };
}

/**
 * The gradient of a scalar function (see {@link valueAndGrad} for options).
 * @example grad((x) => np.sum(np.sin(x)))(x) // cos(x)
 * @category Transforms
 */
export function grad<F extends (...args: any[]) => any, const O extends GradOptions = {}>(
  f: F,
  options?: O,
): (
  ...args: Parameters<F>
) => O extends { hasAux: true }
  ? [GradOf<Parameters<F>, O['argnums']>, AuxOf<ReturnType<F>>]
  : GradOf<Parameters<F>, O['argnums']> {
  const vg = valueAndGrad(f, options);
  return ((...args: Parameters<F>) => {
    const [value, g] = vg(...args);
    return options?.hasAux ? [g, (value as unknown as [Array, unknown])[1]] : g;
  }) as never;
}

/** Identity basis of a shape: `[size, ...shape]`. */
function basis(a: ShapedArray): Array {
  const n = a.shape.reduce((x, y) => x * y, 1);
  const eye = cast(eq(iota([n, n], 'int32', 0), iota([n, n], 'int32', 1)), a.dtype);
  return reshape(eye, [n, ...a.shape]);
}

/** Options of {@link jacfwd}, {@link jacrev} and {@link hessian}. @category Transforms */
export interface JacobianOptions {
  /** Which positional argument(s) to differentiate (default 0); a list gives a tuple per output leaf. */
  argnums?: number | readonly number[];
}

/**
 * The Jacobian of `f` on flat leaves: `blocks[k][j]` is d(output leaf k)/d(input leaf j), shaped
 * `[...out_k, ...in_j]`, assembled into the output's structure with each leaf replaced by the
 * differentiated arguments' structure (JAX's layout for pytrees).
 */
function jacobian(
  name: string,
  f: (...args: any[]) => unknown,
  opts: JacobianOptions | undefined,
  blocks: (fn: (...xs: Array[]) => Array[], leaves: Array[]) => Array[][],
) {
  const argnums = opts?.argnums ?? 0;
  const list = typeof argnums === 'number' ? [argnums] : [...argnums];
  return (...args: unknown[]): any => {
    for (const i of list)
      if (!Number.isInteger(i) || i < 0 || i >= args.length)
        throw new ShapeError(`${name}: argnums ${i} is out of range for ${args.length} arguments`);
    const [leaves, def] = flattenArgs(list.map((i) => args[i]));
    requireFloat(name, leaves, leafPaths(def, 'args'));
    let outDef: TreeDef | undefined;
    const fn = (...ls: Array[]): Array[] => {
      const full = [...args];
      const diff = unflatten(def, ls);
      list.forEach((a, k) => (full[a] = diff[k]));
      const [outs, d] = flattenArgs([f(...full)]);
      outDef = d;
      return outs;
    };
    const jac = blocks(fn, leaves).map((row) => {
      const perInput = unflatten(def, row);
      return typeof argnums === 'number' ? perInput[0] : perInput;
    });
    return unflatten(outDef!, jac)[0];
  };
}

/**
 * Jacobian by forward mode: one jvp per input element, vmapped. For one array argument and an
 * array result it has shape `[...out, ...in]`; for pytrees, JAX's layout: the output's structure
 * with each leaf replaced by the argument's structure (a tuple of them for a list of `argnums`).
 * @example jacfwd((x) => np.sin(x))(x) // diag(cos(x))
 * @example jacfwd((p, x) => model(p, x), { argnums: 0 })(params, x) // a tree like params per output
 * @category Transforms
 */
export function jacfwd(f: (x: Array) => Array, opts?: JacobianOptions): (x: Array) => Array;
export function jacfwd<F extends (...args: any[]) => any>(
  f: F,
  opts?: JacobianOptions,
): (...args: Parameters<F>) => any;
export function jacfwd(f: (...args: any[]) => any, opts?: JacobianOptions) {
  return jacobian('jacfwd', f, opts, (fn, leaves) => {
    const outAvals = fn(...leaves).map((o) => o.aval);
    const columns = leaves.map((x, j) => {
      const tangentsOf = (t: Array) => leaves.map((l, i) => (i === j ? t : zerosLike(l)));
      const outs = vmapFlat(
        (t) => jvpFlat(fn, leaves, tangentsOf(t))[1],
        x.size,
        [basis(x.aval)],
        [0],
        (n) => new globalThis.Array(n).fill(-1),
      );
      return outs.map((o, k) => reshape(o, [...outAvals[k].shape, ...x.shape]));
    });
    return outAvals.map((_, k) => leaves.map((_l, j) => columns[j][k]));
  });
}

/**
 * Jacobian by reverse mode: one vjp per output element, vmapped; the same layout as {@link jacfwd}.
 * @category Transforms
 */
export function jacrev(f: (x: Array) => Array, opts?: JacobianOptions): (x: Array) => Array;
export function jacrev<F extends (...args: any[]) => any>(
  f: F,
  opts?: JacobianOptions,
): (...args: Parameters<F>) => any;
export function jacrev(f: (...args: any[]) => any, opts?: JacobianOptions) {
  return jacobian('jacrev', f, opts, (fn, leaves) => {
    const [ys, lin] = linearizeFlat(fn, leaves);
    requireFloat(
      'jacrev (outputs)',
      ys,
      ys.map((_, k) => `output leaf ${k}`),
    );
    return ys.map((y, k) => {
      const cotangentsOf = (ct: Array) => ys.map((o, i) => (i === k ? ct : zerosLike(o)));
      const rows = vmapFlat(
        (ct) => transposeLinear(lin, cotangentsOf(ct)),
        y.size,
        [basis(y.aval)],
        [0],
        (n) => new globalThis.Array(n).fill(0),
      );
      return rows.map((r, j) => reshape(r, [...y.shape, ...leaves[j].shape]));
    });
  });
}

/**
 * Hessian of a scalar function: `jacfwd(jacrev(f))`, shape `[...in, ...in]` for one array; for
 * pytrees and several `argnums`, nested as JAX's.
 * @category Transforms
 */
export function hessian(f: (x: Array) => Array, opts?: JacobianOptions): (x: Array) => Array;
export function hessian<F extends (...args: any[]) => any>(
  f: F,
  opts?: JacobianOptions,
): (...args: Parameters<F>) => any;
export function hessian(f: (...args: any[]) => any, opts?: JacobianOptions) {
  return jacfwd(jacrev(f, opts), opts);
}
