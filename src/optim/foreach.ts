/**
 * Elementwise functions over the leaves of parameter trees, with the small leaves of each dtype
 * run as one vector (PyTorch's multi-tensor "foreach" updates): the optimizers' shared mechanism.
 * @module
 */
import { Array } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import * as np from '../np/index.js';
import * as tree from '../tree.js';
import type { Params } from './index.js';

/** Leaves under this many elements share one chain of operations. */
const GROUP_BELOW = 4096;
/**
 * `fn` (elementwise, `outputs` results) over the corresponding leaves of `trees`, of one structure
 * and sizes; small leaves of one dtype run concatenated (optim.mapElementwise) where there are at
 * least `groupsFrom` of them. `op` names errors.
 */
export function foreachLeaf(
  op: string,
  fn: (...leaves: Array[]) => Array[],
  trees: Params[],
  outputs: number,
  groupsFrom = 1,
): Params[] {
  const [first, def] = tree.flatten<Array>(trees[0]);
  const leaves = [
    first,
    ...trees.slice(1).map((t, k) => {
      const [l, d] = tree.flatten<Array>(t);
      if (l.length !== first.length)
        throw new ValueError(`${op}: tree ${k + 1} has ${l.length} leaves, tree 0 has ${first.length}`);
      if (!tree.structuresEqual(d, def))
        throw new ValueError(`${op}: tree ${k + 1} is not of tree 0's structure (both have ${l.length} leaves)`);
      return l;
    }),
  ];
  leaves.forEach((l, t) => {
    const bad = l.findIndex((x, i) => x instanceof Array && first[i] instanceof Array && x.size !== first[i].size);
    if (bad >= 0)
      throw new ValueError(`${op}: tree ${t} leaf ${bad} has ${l[bad].size} elements, tree 0's has ${first[bad].size}`);
  });
  const results: Array[][] = [];
  const groups = new Map<string, number[]>();
  first.forEach((leaf, i) => {
    const row = leaves.map((l) => l[i]);
    // Numbers and other leaves that are not arrays go alone, as tree.map would take them.
    if (!row.every((x) => x instanceof Array) || leaf.size >= GROUP_BELOW) results[i] = fn(...row);
    else {
      const key = row.map((x) => x.dtype).join();
      const group = groups.get(key);
      if (group) group.push(i);
      else groups.set(key, [i]);
    }
  });
  for (const members of groups.values()) {
    if (members.length < groupsFrom) {
      for (const i of members) results[i] = fn(...leaves.map((l) => l[i]));
      continue;
    }
    const joined = leaves.map((l) => np.concatenate(members.map((i) => np.reshape(l[i], [-1]))));
    const outs = fn(...joined);
    let start = 0;
    for (const i of members) {
      const { size, shape } = first[i];
      results[i] = outs.map((o) => np.reshape(np.slice(o, [start, start + size]), shape));
      start += size;
    }
  }
  return globalThis.Array.from({ length: outputs }, (_, k) =>
    tree.unflatten(
      def,
      results.map((r) => r[k]),
    ),
  );
}

/**
 * `fn` over the corresponding leaves of `trees`, one output tree: the optimizers' own elementwise
 * steps (updates scaled, added to the parameters). Where a model has many small parameters, they
 * run as one chain, and the vector that Adam's update split comes back whole (the ONNX lowering
 * rejoins its pieces): DenseNet-121's step lost 486 nodes of [C] values. A few small parameters
 * stay apart: WebGPU fuses each one's update into the kernel that computes its gradient.
 */
export const mapLeaves = (op: string, fn: (...leaves: Array[]) => Array, ...trees: Params[]): Params =>
  foreachLeaf(op, (...xs) => [fn(...xs)], trees, 1, GROUPS_FROM)[0];

/** Small leaves of one dtype that {@link mapLeaves} runs as one chain, from this many. */
const GROUPS_FROM = 16;
