/**
 * Reusable laws of transforms, each a function that throws a {@link LawError} describing the
 * failure and returns true otherwise, so it works directly inside fast-check properties.
 * @module
 */
import { Array, type DType, jit, jvp, vmap, np, tree } from '../src/index.js';
import { type Primitive, UndefinedPrimal } from '../src/core/primitive.js';
import { bind } from '../src/core/trace.js';
import { linearizeFlat, transposeLinear, applyLinear } from '../src/transforms/grad.js';
import { randomArray } from './samples.js';

/** A violated law; the message says which and by how much. */
export class LawError extends Error {}

/** Relative and absolute tolerance: `|a - e| <= atol * max(1, max|e|) + rtol * |e|`. */
export interface Tolerance {
  rtol: number;
  atol: number;
}
export const float32Tol: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** Element data as float64 numbers. */
const values = (x: Array): number[] => globalThis.Array.from(x.dataSync(), Number);

/** Throws unless `actual` and `expected` have the same shape and are elementwise close. */
export function assertClose(
  actual: Array,
  expected: Array | ArrayLikeData,
  tol: Tolerance = float32Tol,
  what = 'value',
): true {
  const exp = expected instanceof Array ? values(expected) : expected.data;
  const expShape = expected.shape;
  if (actual.shape.join() !== expShape.join())
    throw new LawError(`${what}: shape [${actual.shape}] but expected [${expShape}]`);
  const act = values(actual);
  const scale = exp.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  for (let i = 0; i < act.length; i++) {
    const bound = tol.atol * scale + tol.rtol * Math.abs(exp[i]);
    const bothNaN = Number.isNaN(act[i]) && Number.isNaN(exp[i]);
    if (!bothNaN && !(Math.abs(act[i] - exp[i]) <= bound) && act[i] !== exp[i]) {
      throw new LawError(
        `${what}: element ${i} is ${act[i]} but expected ${exp[i]} (tolerance ${bound.toExponential(2)})`,
      );
    }
  }
  return true;
}
/** Plain data for {@link assertClose}: flat row-major values and a shape. */
export interface ArrayLikeData {
  data: number[];
  shape: number[];
}

const assertTreesClose = (a: unknown, b: unknown, tol: Tolerance, what: string) => {
  const la = tree.leaves(a),
    lb = tree.leaves(b);
  if (la.length !== lb.length) throw new LawError(`${what}: ${la.length} leaves vs ${lb.length}`);
  la.forEach((x, i) => assertClose(x, lb[i], tol, `${what} leaf ${i}`));
  return true;
};

/** `jit(f)(...args) = f(...args)` and `jit(jit(f)) = jit(f)`. */
export function jitIsTransparent(f: (...args: any[]) => unknown, args: unknown[], tol: Tolerance = float32Tol): true {
  const expected = f(...args);
  assertTreesClose(jit(f)(...args), expected, tol, 'jit(f)');
  assertTreesClose(jit(jit(f))(...args), expected, tol, 'jit(jit(f))');
  return true;
}

/**
 * `vmap(f)(xs)[i] = f(xs[i])` for array arguments, each batched along `inAxes[i]` (null:
 * shared by every example), with the batch placed at `outAxis` in the outputs.
 */
export function vmapCommutesWithMap(
  f: (...args: Array[]) => unknown,
  batched: Array[],
  inAxes: (number | null)[],
  outAxis = 0,
  tol: Tolerance = float32Tol,
): true {
  const size = batched.find((_, i) => inAxes[i] !== null)!.shape[inAxes.findIndex((a) => a !== null)!];
  const got = vmap(f, { inAxes: [...inAxes], outAxes: outAxis })(...batched);
  const per = globalThis.Array.from({ length: size }, (_, k) =>
    f(
      ...batched.map((x, i) =>
        inAxes[i] === null
          ? x
          : np
              .take(x, np.array([k], { dtype: 'int32' }), { axis: inAxes[i]! })
              .reshape(x.shape.filter((_, d) => d !== inAxes[i])),
      ),
    ),
  );
  const gl = tree.leaves(got);
  gl.forEach((g, li) => {
    const want = np.stack(
      per.map((p) => tree.leaves(p)[li]),
      { axis: outAxis },
    );
    assertClose(g, want, tol, `vmap output ${li}`);
  });
  return true;
}

/** `sum_i <xs[i], ys[i]>`, accumulated in float64 (integer and bool operands count as floats). */
const dotAll = (xs: Array[], ys: Array[]) =>
  xs.reduce((s, x, i) => s + np.sum(np.multiply(np.astype(x, 'float64'), np.astype(ys[i], 'float64'))).item(), 0);
const isFloat = (d: DType) => d === 'float64' || d === 'float32' || d === 'float16' || d === 'bfloat16';

/**
 * Directional derivatives from jvp match central finite differences along random directions
 * (`diff` selects the arguments perturbed; `eps` is the step).
 */
export function gradMatchesFiniteDifferences(
  f: (...args: Array[]) => Array[],
  args: Array[],
  diff: number[],
  gen: () => number,
  eps = 1e-2,
  tol: Tolerance = { rtol: 2e-2, atol: 2e-3 },
): true {
  const dirs = args.map((a, i) =>
    diff.includes(i) ? randomArray([...a.shape], () => 2 * gen() - 1, a.dtype) : np.zerosLike(a),
  );
  const shift = (s: number) => args.map((a, i) => (diff.includes(i) ? np.add(a, np.multiply(dirs[i], s)) : a));
  const [, tangents] = jvp((...xs: Array[]) => f(...xs), args, dirs as never);
  const plus = f(...shift(eps)),
    minus = f(...shift(-eps));
  (tangents as Array[]).forEach((t, k) => {
    if (!isFloat(t.dtype)) return;
    const fd = np.divide(np.subtract(plus[k], minus[k]), 2 * eps);
    assertClose(t, fd, tol, `jvp vs finite differences, output ${k}`);
  });
  return true;
}

/** `<ct, J t> = <J^T ct, t>`: reverse mode is the adjoint of forward mode (random t and ct). */
export function vjpIsAdjointOfJvp(
  f: (...args: Array[]) => Array[],
  args: Array[],
  diff: number[],
  gen: () => number,
  tol: Tolerance = { rtol: 1e-3, atol: 1e-4 },
): true {
  const fixed = (...xs: Array[]) => f(...args.map((a, i) => (diff.includes(i) ? xs[diff.indexOf(i)] : a)));
  const primals = diff.map((i) => args[i]);
  const [outs, lin] = linearizeFlat(fixed, primals);
  const ts = primals.map((p) => randomArray([...p.shape], () => 2 * gen() - 1, p.dtype));
  const cts = outs.map((o) =>
    isFloat(o.dtype) ? randomArray([...o.shape], () => 2 * gen() - 1, o.dtype) : np.zerosLike(o),
  );
  const jt = applyLinear(lin, ts).map((x, i) => (isFloat(outs[i].dtype) ? x : np.zerosLike(outs[i])));
  const jtct = transposeLinear(lin, cts);
  const lhs = dotAll(cts, jt);
  const rhs = dotAll(jtct, ts);
  const scale = Math.max(1, Math.abs(lhs), Math.abs(rhs));
  if (Math.abs(lhs - rhs) > tol.atol * scale + tol.rtol * Math.abs(lhs))
    throw new LawError(`<ct, J t> = ${lhs} but <J^T ct, t> = ${rhs}`);
  return true;
}

/**
 * For a primitive linear in `linearIn`: `<ct, L x> = <L^T ct, x>` using its transpose rule.
 * `forward` computes `L x` for primitives that cannot be evaluated on their own (custom_lin).
 */
export function transposeIsAdjoint(
  prim: Primitive,
  inputs: Array[],
  params: object,
  linearIn: number[],
  gen: () => number,
  tol: Tolerance = { rtol: 1e-4, atol: 1e-4 },
  forward?: (...xs: Array[]) => Array[],
): true {
  const outAvals = prim.abstractEval(
    inputs.map((x) => x.aval),
    params,
  );
  const cts = outAvals.map((a) => randomArray([...a.shape], () => 2 * gen() - 1));
  const outs = forward ? forward(...inputs) : bind(prim, inputs, params);
  const args = inputs.map((x, i) => (linearIn.includes(i) ? new UndefinedPrimal(x.aval) : x));
  const inCts = prim.transpose!(cts, args, params);
  // For a primitive linear in several inputs jointly, L(x) is the sum of the parts.
  const lhs = dotAll(cts, outs);
  const rhs = linearIn.reduce((s, i) => s + np.sum(np.multiply(inCts[i]!, inputs[i])).item(), 0);
  const scale = Math.max(1, Math.abs(lhs));
  if (Math.abs(lhs - rhs) > tol.atol * scale + tol.rtol * Math.abs(lhs))
    throw new LawError(`${prim.name}: <ct, L x> = ${lhs} but <L^T ct, x> = ${rhs}`);
  return true;
}

/** `unflatten(flatten(t)) = t` for a pytree. */
export function treeRoundTrips(t: unknown): true {
  const [leaves, def] = tree.flatten(t);
  const back = tree.unflatten(def, leaves);
  if (JSON.stringify(tree.structure(back)) !== JSON.stringify(def))
    throw new LawError('tree structure changed in a round trip');
  tree.leaves(back).forEach((l, i) => {
    if (l !== leaves[i]) throw new LawError(`tree leaf ${i} changed in a round trip`);
  });
  return true;
}

/** Options of {@link checkGrads}. */
export interface CheckGradsOptions {
  /** Derivative order to check (1 or 2). */
  order?: number;
  /** Which modes: forward (jvp vs differences), reverse (vjp adjoint of jvp). */
  modes?: ('fwd' | 'rev')[];
  eps?: number;
  seed?: number;
}

/**
 * Like `jax.test_util.check_grads`: checks a function of float arrays in forward and reverse
 * mode (and, with `order: 2`, its derivative's derivatives).
 * @example checkGrads((x) => np.sin(x), [np.array([0.5, 1])], {order: 2})
 */
export function checkGrads(f: (...args: Array[]) => Array, args: Array[], opts: CheckGradsOptions = {}): true {
  let s = opts.seed ?? 0;
  const gen = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const modes = opts.modes ?? ['fwd', 'rev'];
  const flat = (...xs: Array[]) => [f(...xs)];
  const diff = args.map((_, i) => i);
  if (modes.includes('fwd')) gradMatchesFiniteDifferences(flat, args, diff, gen, opts.eps);
  if (modes.includes('rev')) vjpIsAdjointOfJvp(flat, args, diff, gen);
  if ((opts.order ?? 1) >= 2) {
    const dirs = args.map((a) => randomArray([...a.shape], () => 2 * gen() - 1));
    const df = (...xs: Array[]) => jvp((...ys: Array[]) => f(...ys), xs, dirs as never)[1] as unknown as Array;
    checkGrads(df, args, { ...opts, order: (opts.order ?? 1) - 1 });
  }
  return true;
}
