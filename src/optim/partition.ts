/**
 * Optimizers over parts of a tree: freezing (`setToZero`), applying a transformation to some leaves
 * (`masked`) or a different one per labelled group (`multiTransform`), and gradient accumulation
 * (`multiSteps`), as optax's.
 * @module
 */
import type { Array } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import * as np from '../np/index.js';
import * as tree from '../tree.js';
import type { GradientTransformation, Params } from './index.js';
import { foreachLeaf } from './foreach.js';

/** Zero updates: the parameters stay as they are (freeze them with {@link multiTransform}). @category Optimizers */
export const setToZero = (): GradientTransformation<{}> => ({
  init: () => ({}),
  update: (g, s) => ({ updates: tree.map((x: Array) => np.zerosLike(x), g), state: s }),
});

/** A tree of per-leaf values (labels, booleans), or a function of the params that gives one. */
type PerLeaf = unknown;
const resolve = <T>(what: string, spec: PerLeaf, params: Params): T[] => {
  const labels = tree.leaves<T>(typeof spec === 'function' ? (spec as (p: Params) => unknown)(params) : spec);
  const n = tree.leaves(params).length;
  if (labels.length !== n)
    throw new ValueError(
      `${what}: ${labels.length} labels for ${n} parameter leaves (give one per leaf, same structure)`,
    );
  return labels;
};

/** The leaves of `t` at `positions`. */
const pick = (t: Params, positions: readonly number[]) => {
  const leaves = tree.leaves(t);
  return positions.map((i) => leaves[i]);
};

/**
 * A different transformation for each group of leaves: `labels` (a tree of strings with the params'
 * structure, or a function of the params giving one) names each leaf's transformation. Each
 * transformation sees only its leaves, as a list.
 * @example
 * // Train the classifier, freeze the rest.
 * const labels = { ...tree.map(() => 'freeze', params), fc: { weight: 'train', bias: 'train' } };
 * const opt = optim.multiTransform({ train: optim.adam(1e-3), freeze: optim.setToZero() }, labels);
 * @category Optimizers
 */
export function multiTransform(
  transforms: Record<string, GradientTransformation>,
  labels: PerLeaf,
): GradientTransformation<Record<string, unknown>> {
  const groups = (params: Params) => {
    const ls = resolve<string>('multiTransform', labels, params);
    const unknown = ls.find((l) => !(l in transforms));
    if (unknown !== undefined)
      throw new ValueError(
        `multiTransform: label '${String(unknown).slice(0, 40)}' has no transformation (have ${Object.keys(transforms).join(', ')})`,
      );
    return Object.keys(transforms).map((name) => [name, ls.flatMap((l, i) => (l === name ? [i] : []))] as const);
  };
  return {
    init: (params) =>
      Object.fromEntries(groups(params).map(([name, at]) => [name, transforms[name].init(pick(params, at))])),
    update(g, state, params) {
      if (params === undefined) throw new ValueError('multiTransform: update needs the params');
      const [leaves, def] = tree.flatten(g);
      const out = [...leaves];
      const next: Record<string, unknown> = {};
      for (const [name, at] of groups(params)) {
        const r = transforms[name].update(pick(g, at), state[name], pick(params, at));
        (r.updates as Array[]).forEach((u, k) => (out[at[k]] = u));
        next[name] = r.state;
      }
      return { updates: tree.unflatten(def, out), state: next };
    },
  };
}

/**
 * `inner` on the leaves where `mask` is true (a tree of booleans, or a function of the params giving
 * one); the other leaves' updates are the gradients, untouched (optax's `masked`).
 * @category Optimizers
 */
export function masked<S>(inner: GradientTransformation<S>, mask: PerLeaf): GradientTransformation<S> {
  const passThrough: GradientTransformation<{}> = { init: () => ({}), update: (g, s) => ({ updates: g, state: s }) };
  const t = multiTransform({ inner, passThrough }, (p: Params) =>
    resolve<boolean>('masked', mask, p).map((m) => (m ? 'inner' : 'passThrough')),
  );
  return {
    init: (params) => t.init(params).inner as S,
    update(g, state, params) {
      const r = t.update(g, { inner: state, passThrough: {} }, params);
      return { updates: r.updates, state: r.state.inner as S };
    },
  };
}

/** State of {@link multiSteps}. @category Optimizers */
export interface MultiStepsState<S> {
  miniStep: Array;
  gradAcc: Params;
  inner: S;
}

/**
 * Gradient accumulation (optax's `MultiSteps`): every call adds the gradients to a running mean; every
 * `everyK`-th applies `inner` to the mean and returns its updates, the others return zeros. The whole
 * update is array code, so a jitted step compiles once.
 * @example const opt = optim.multiSteps(optim.adam(1e-3), 4); // an effective batch four times larger
 * @category Optimizers
 */
export function multiSteps<S>(
  inner: GradientTransformation<S>,
  everyK: number,
): GradientTransformation<MultiStepsState<S>> {
  if (!Number.isInteger(everyK) || everyK < 1)
    throw new ValueError(`multiSteps: everyK must be a positive integer, got ${everyK}`);
  return {
    init: (params) => ({
      miniStep: np.array(0, { dtype: 'int32' }),
      gradAcc: tree.map((x: Array) => np.zerosLike(x), params),
      inner: inner.init(params),
    }),
    update(g, s, params) {
      const seen = np.add(s.miniStep, 1);
      const acc = tree.map((a: Array, x: Array) => np.add(a, np.divide(np.subtract(x, a), seen)), s.gradAcc, g);
      const emit = np.equal(seen, everyK);
      const r = inner.update(acc, s.inner, params);
      const select = <T>(onEmit: T, otherwise: T): T =>
        tree.map((a: Array, b: Array) => np.where(emit, a, b), onEmit, otherwise) as T;
      return {
        updates: select(
          r.updates,
          tree.map((x: Array) => np.zerosLike(x), r.updates),
        ),
        state: {
          miniStep: np.astype(np.where(emit, 0, seen), 'int32'),
          gradAcc: select(
            tree.map((x: Array) => np.zerosLike(x), acc),
            acc,
          ),
          inner: select(r.state, s.inner),
        },
      };
    },
  };
}

/** Leaves of at least this many elements stay leaves of their own in {@link flatten}. */
const FLATTEN_BELOW = 1 << 16;
/** What {@link flatten} gives its inner transformation: small leaves as one vector per dtype, large ones as they are. */
interface Raveled {
  small: Record<string, Array>;
  large: Array[];
}
const isSmall = (leaf: Array) => leaf.size < FLATTEN_BELOW;

/** The small leaves of a tree as one vector per dtype (in leaf order), the large ones in a list. */
function ravel(t: Params): Raveled {
  const byDtype: Record<string, Array[]> = {};
  const large: Array[] = [];
  for (const leaf of tree.leaves<Array>(t))
    if (isSmall(leaf)) (byDtype[leaf.dtype] ??= []).push(np.reshape(leaf, [-1]));
    else large.push(leaf);
  const small = Object.fromEntries(Object.entries(byDtype).map(([d, parts]) => [d, np.concatenate(parts)]));
  return { small, large };
}
/** The inverse of {@link ravel}: back into the leaves of `like`. */
function unravel({ small, large }: Raveled, like: Params): Params {
  const [leaves, def] = tree.flatten<Array>(like);
  const offsets: Record<string, number> = {};
  let next = 0;
  const parts = leaves.map((leaf) => {
    if (!isSmall(leaf)) return large[next++];
    const start = (offsets[leaf.dtype] ??= 0);
    offsets[leaf.dtype] += leaf.size;
    return np.reshape(np.slice(small[leaf.dtype], [start, start + leaf.size]), leaf.shape);
  });
  return tree.unflatten(def, parts);
}

/**
 * Applies `fn`, elementwise in its arguments, to the corresponding leaves of `trees` (of one
 * structure and shapes), with the small leaves (under 4,096 elements) of each dtype concatenated into
 * one vector and split again afterwards, as PyTorch's multi-tensor ("foreach") updates: the same
 * values, with one chain of operations for a model's many small parameters (batch norm's scales and
 * shifts) where each had its own. Returns `outputs` trees of the same structure.
 * @example
 * const [m, v] = optim.mapElementwise((m, v, g) => [m.multiply(0.9).add(g), v.add(g.multiply(g))], [m0, v0, grads], 2);
 * @category Optimizers
 */
export function mapElementwise(fn: (...leaves: Array[]) => Array[], trees: Params[], outputs: number): Params[] {
  return foreachLeaf('mapElementwise', fn, trees, outputs);
}

/**
 * Runs `inner` on all small leaves at once, concatenated into one vector per dtype (optax's
 * `flatten`, PyTorch's multi-tensor "foreach" optimizers), and on each large leaf (64k elements or
 * more) as it is: a compiled step then holds one chain of elementwise operations for all the small
 * parameters instead of one per parameter, without copying the large ones. (Adam does so by
 * itself for leaves under 4,096 elements, see {@link mapElementwise}; `flatten` also takes those up
 * to 64k and keeps them raveled between steps.) The state is raveled the same way
 * (`{ small: { float32 }, large: [...] }`). Transformations that look at each leaf's shape or norm
 * (adafactor's factoring, LAMB's trust ratio, block clipping) then see one vector per dtype for
 * the small leaves, as in optax.
 * @example const opt = optim.flatten(optim.adam(1e-3));
 * @category Optimizers
 */
export function flatten<S>(inner: GradientTransformation<S>): GradientTransformation<S> {
  return {
    init: (params) => inner.init(ravel(params)),
    update(grads, state, params) {
      const r = inner.update(ravel(grads), state, params === undefined ? undefined : ravel(params));
      return { updates: unravel(r.updates, grads), state: r.state };
    },
  };
}
