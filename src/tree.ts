/**
 * Pytrees: nested plain objects, JS arrays/tuples, with Arrays (and numbers) as leaves.
 * `null` and `undefined` are empty subtrees. Transforms flatten their arguments with these.
 * @module
 */
import { Array, ShapeDtype } from './core/array.js';
import { ValueError } from './core/errors.js';

/** A nested structure of leaves of type L. @category Pytrees */
export type Tree<L = Array> = L | null | undefined | readonly Tree<L>[] | { readonly [k: string]: Tree<L> };

/** The shape of a tree without its leaves; compare with {@link structuresEqual}. @category Pytrees */
export type TreeDef =
  | { kind: 'leaf' }
  | { kind: 'none'; value: null | undefined }
  | { kind: 'array'; children: TreeDef[] }
  | { kind: 'object'; keys: string[]; children: TreeDef[] };

const isLeaf = (x: unknown) =>
  x instanceof Array ||
  x instanceof ShapeDtype ||
  typeof x === 'number' ||
  typeof x === 'boolean' ||
  typeof x === 'string' ||
  typeof x === 'bigint';
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' &&
  x !== null &&
  (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null);

/**
 * Leaves in a fixed order (object keys sorted, as JAX sorts dict keys) and the structure.
 * @example tree.flatten({b: 1, a: [2, 3]}) // [[2, 3, 1], treedef]
 * @category Pytrees
 */
export function flatten<L = Array>(t: unknown): [L[], TreeDef] {
  const leaves: L[] = [];
  const def = flattenInto(t, leaves as unknown[]);
  return [leaves, def];
}

// Module-level recursion (no closures per call): flatten runs on every jit call.
function flattenInto(x: unknown, leaves: unknown[]): TreeDef {
  if (x === null || x === undefined) return { kind: 'none', value: x };
  if (isLeaf(x)) {
    leaves.push(x);
    return LEAF;
  }
  if (globalThis.Array.isArray(x)) return { kind: 'array', children: x.map((c) => flattenInto(c, leaves)) };
  if (isPlainObject(x)) {
    const keys = Object.keys(x).sort();
    return { kind: 'object', keys, children: keys.map((k) => flattenInto(x[k], leaves)) };
  }
  throw new ValueError(
    `tree: ${Object.prototype.toString.call(x)} is neither a leaf (Array, number) nor a container (plain object, JS ` +
      `array)`,
  );
}
const LEAF: TreeDef = { kind: 'leaf' };

/** Rebuilds a tree of structure `def` from `leaves` (in flatten order). @category Pytrees */
export function unflatten<L = Array>(def: TreeDef, leaves: readonly L[]): any {
  const cursor = { i: 0 };
  const out = build(def, leaves, cursor);
  if (cursor.i !== leaves.length)
    throw new ValueError(`tree.unflatten: structure takes ${cursor.i} leaves, got ${leaves.length}`);
  return out;
}
function build(d: TreeDef, leaves: readonly unknown[], cursor: { i: number }): unknown {
  switch (d.kind) {
    case 'leaf':
      if (cursor.i >= leaves.length)
        throw new ValueError(`tree.unflatten: structure needs more than ${leaves.length} leaves`);
      return leaves[cursor.i++];
    case 'none':
      return d.value;
    case 'array':
      return d.children.map((c) => build(c, leaves, cursor));
    case 'object': {
      const o: Record<string, unknown> = {};
      d.keys.forEach((k, j) => (o[k] = build(d.children[j], leaves, cursor)));
      return o;
    }
  }
}

/**
 * A string identifying a tree's structure, its arrays' shapes and dtypes, and its other
 * leaves' values: jit's cache key, built in one pass. `leaves`, where given, receives the tree's
 * leaves in {@link flatten}'s order (so a jit call walks its arguments once).
 */
export function signature(t: unknown, describeArray: (a: Array) => string, leaves?: unknown[]): string {
  if (t === null) return 'n';
  if (t === undefined) return 'u';
  if (t instanceof Array) {
    leaves?.push(t);
    return describeArray(t);
  }
  if (typeof t === 'number' || typeof t === 'boolean' || typeof t === 'string' || typeof t === 'bigint') {
    leaves?.push(t);
    return typeof t === 'string' ? JSON.stringify(t) : `${typeof t}:${String(t)}`;
  }
  if (globalThis.Array.isArray(t)) {
    let s = '[';
    for (const c of t) s += signature(c, describeArray, leaves) + ',';
    return s + ']';
  }
  if (isPlainObject(t)) {
    let s = '{';
    for (const k of Object.keys(t).sort()) s += JSON.stringify(k) + ':' + signature(t[k], describeArray, leaves) + ',';
    return s + '}';
  }
  throw new ValueError(
    `tree: ${Object.prototype.toString.call(t)} is neither a leaf (Array, number) nor a container (plain object, JS ` +
      `array)`,
  );
}

/** The leaves of a tree. @category Pytrees */
export const leaves = <L = Array>(t: unknown): L[] => flatten<L>(t)[0];
/** The structure of a tree. @category Pytrees */
export const structure = (t: unknown): TreeDef => flatten(t)[1];
/** Do two structures match exactly (same containers, keys and leaf positions)? @category Pytrees */
export const structuresEqual = (a: TreeDef, b: TreeDef): boolean => JSON.stringify(a) === JSON.stringify(b);
/** A readable form of a structure, for error messages: `{a: *, b: [*, *]}`. @category Pytrees */
export function structureString(d: TreeDef): string {
  switch (d.kind) {
    case 'leaf':
      return '*';
    case 'none':
      return String(d.value);
    case 'array':
      return `[${d.children.map(structureString).join(', ')}]`;
    case 'object':
      return `{${d.keys.map((k, i) => `${k}: ${structureString(d.children[i])}`).join(', ')}}`;
  }
}

/**
 * Applies `f` to corresponding leaves of one or more trees of the same structure.
 * @example tree.map((p, g) => p.subtract(g.multiply(0.1)), params, grads)
 * @category Pytrees
 */
export function map<R = Array>(f: (...leaves: any[]) => R, t: unknown, ...rest: unknown[]): any {
  const [ls, def] = flatten(t);
  const others = rest.map((r, k) => {
    const [l, d] = flatten(r);
    if (!structuresEqual(d, def))
      throw new ValueError(
        `tree.map: tree ${k + 1} has structure ${structureString(d)}, expected ${structureString(def)}`,
      );
    return l;
  });
  return unflatten(
    def,
    ls.map((x, i) => f(x, ...others.map((o) => o[i]))),
  );
}

/**
 * The path of each leaf (object keys, list indices as numbers), in flatten order: `{a: {b: x}}`
 * has the path `['a', 'b']`. Joined with dots, these are the names of checkpoint entries.
 * @example tree.leafPaths(tree.flatten({ w: x, b: [y] })[1]) // [['b', 0], ['w']]
 * @category Pytrees
 */
export function leafPaths(def: TreeDef): (string | number)[][] {
  const out: (string | number)[][] = [];
  const go = (d: TreeDef, p: (string | number)[]) => {
    if (d.kind === 'leaf') out.push(p);
    else if (d.kind === 'array') d.children.forEach((c, i) => go(c, [...p, i]));
    else if (d.kind === 'object') d.children.forEach((c, i) => go(c, [...p, d.keys[i]]));
  };
  go(def, []);
  return out;
}
