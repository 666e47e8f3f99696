/**
 * Pytree plumbing shared by the transforms: flatten arguments to leaves, call a function on
 * leaves, and describe leaves by their path for error messages.
 * @module
 */
import { Array } from '../core/array.js';
import { DTypeError } from '../core/errors.js';
import { isFloat } from '../core/dtype.js';
import { type TreeDef, flatten, leafPaths as treeLeafPaths, unflatten } from '../tree.js';
import { toArray } from '../core/convert.js';

/** Flattens `args` into array leaves (numbers become float32 arrays). */
export function flattenArgs(args: unknown[]): [Array[], TreeDef] {
  const [leaves, def] = flatten<unknown>(args);
  return [leaves.map((l) => (l instanceof Array ? l : toArray(l, 'flatten'))), def];
}

/** Paths of the leaves of a structure, as `args[0].w` strings, for error messages. */
export const leafPaths = (def: TreeDef, root = 'args'): string[] =>
  treeLeafPaths(def).map((p) => root + p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join(''));

/** A function on flat leaves from a function on trees; `outDef()` tells the output structure after a call. */
export function flatFn(
  f: (...args: any[]) => unknown,
  inDef: TreeDef,
): { fn: (...leaves: Array[]) => Array[]; outDef: () => TreeDef } {
  let out: TreeDef | undefined;
  return {
    fn: (...leaves) => {
      const [res, def] = flatten<unknown>(f(...unflatten(inDef, leaves)));
      out = def;
      return res.map((l) => (l instanceof Array ? l : toArray(l, 'flatten')));
    },
    outDef: () => out!,
  };
}

/** Throws unless every leaf is floating point (differentiation needs it). */
export function requireFloat(fn: string, leaves: Array[], paths: string[]): void {
  leaves.forEach((l, i) => {
    if (!isFloat(l.dtype))
      throw new DTypeError(
        `${fn}: can only differentiate with respect to float arrays, but ${paths[i]} has dtype ${l.dtype}`,
      );
  });
}
