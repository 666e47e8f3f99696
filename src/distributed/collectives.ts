/**
 * The collectives users call (`lax.psum`, `lax.pmean`, ...): each looks up the mapped axis it
 * names (bound by `pmap` or `vmap({ axisName })`) and binds its primitive on every leaf of a
 * pytree. Outside such an axis they are clear errors, never a silent identity.
 * @module
 */
import type { Array } from '../core/array.js';
import { FluxionError, ShapeError, fmtShape } from '../core/errors.js';
import { bind1 } from '../core/trace.js';
import {
  allGatherP,
  pmaxP,
  pminP,
  ppermuteP,
  psumP,
  psumScatterP,
  type CollectiveParams,
  add,
  concatenateP,
  div,
  fullLike,
  processGroupSize,
  reshape,
  sliceP,
} from '../primitives/index.js';
import { processGroup } from './mpi.js';
import { mappedAxisSize, mappedIndex } from '../transforms/vmap.js';
import { flatten as flattenTree, map as treeMap, unflatten as unflattenTree } from '../tree.js';

function axis(op: string, axisName: string): CollectiveParams {
  if (typeof axisName !== 'string')
    throw new FluxionError(`${op}: the axis name must be a string, got ${String(axisName).slice(0, 20)}`);
  const size = mappedAxisSize(axisName);
  if (size === undefined)
    throw new FluxionError(
      `${op}: axis name '${axisName}' is not bound here; call collectives inside pmap or vmap({ axisName: '${axisName}' })`,
    );
  return { axisName, size };
}
const leaves = <T>(x: T, f: (a: Array) => Array): T => treeMap(f, x as never) as T;

/**
 * The sum over every member of the mapped axis `axisName` (every leaf of a pytree).
 * @example pmap((g) => lax.psum(g, 'devices'), { axisName: 'devices' })(grads)
 * @category lax
 */
export const psum = <T>(x: T, axisName: string): T => {
  const p = axis('psum', axisName);
  return leaves(x, (a) => bind1(psumP, [a], p));
};
/** The mean over the members of `axisName` (data-parallel gradients). @category lax */
export const pmean = <T>(x: T, axisName: string): T => {
  const p = axis('pmean', axisName);
  const members = p.size * processGroupSize(); // every device of every process
  return leaves(x, (a) => div(bind1(psumP, [a], p), fullLike(a, members)));
};
/** The maximum over the members of `axisName`. @category lax */
export const pmax = <T>(x: T, axisName: string): T => {
  const p = axis('pmax', axisName);
  return leaves(x, (a) => bind1(pmaxP, [a], p));
};
/** The minimum over the members of `axisName`. @category lax */
export const pmin = <T>(x: T, axisName: string): T => {
  const p = axis('pmin', axisName);
  return leaves(x, (a) => bind1(pminP, [a], p));
};
/**
 * Every member's `x`, stacked along a new `axis` (default 0), or concatenated along it with `tiled`.
 * @category lax
 */
export function allGather<T>(x: T, axisName: string, opts: { axis?: number; tiled?: boolean } = {}): T {
  const p = axis('allGather', axisName);
  const [at, tiled] = [opts.axis ?? 0, opts.tiled ?? false];
  return leaves(x, (a) => {
    if (!Number.isInteger(at) || at < 0 || at > a.ndim - (tiled ? 1 : 0))
      throw new ShapeError(`allGather: axis ${at} is out of range for ${fmtShape(a.shape)}`);
    return bind1(allGatherP, [a], { ...p, axis: at, tiled });
  });
}
/**
 * The sum over the members, scattered: member i keeps block i of `scatterDimension` (the transpose
 * of `allGather`; with `tiled`, blocks of that axis, else its i-th entry).
 * @category lax
 */
export function psumScatter<T>(x: T, axisName: string, opts: { scatterDimension?: number; tiled?: boolean } = {}): T {
  const p = axis('psumScatter', axisName);
  const [dim, tiled] = [opts.scatterDimension ?? 0, opts.tiled ?? false];
  return leaves(x, (a) => {
    const n = a.shape[dim],
      members = p.size * processGroupSize();
    if (n === undefined || (tiled ? n % members !== 0 : n !== members))
      throw new ShapeError(
        `psumScatter: axis ${dim} of ${fmtShape(a.shape)} must ${tiled ? 'divide by' : 'equal'} the ${members} members`,
      );
    return bind1(psumScatterP, [a], { ...p, axis: dim, tiled });
  });
}
/**
 * Sends member `source`'s `x` to member `destination` for each pair of `perm`; members nobody
 * sends to receive zeros.
 * @example lax.ppermute(x, 'i', [[0, 1], [1, 2], [2, 0]]) // a ring shift
 * @category lax
 */
export function ppermute<T>(x: T, axisName: string, perm: readonly (readonly [number, number])[]): T {
  const p = axis('ppermute', axisName);
  const dests = perm.map(([, d]) => d);
  const members = p.size * processGroupSize(); // members are numbered across processes
  const ok = (i: number) => Number.isInteger(i) && i >= 0 && i < members;
  if (
    !perm.every(([s, d]) => ok(s) && ok(d)) ||
    new Set(dests).size !== dests.length ||
    new Set(perm.map(([s]) => s)).size !== perm.length
  )
    throw new ShapeError(
      `ppermute: perm must pair distinct members in [0, ${members}), got ${JSON.stringify(perm).slice(0, 60)}`,
    );
  return leaves(x, (a) => bind1(ppermuteP, [a], { ...p, perm: perm.map(([s, d]) => [s, d] as const) }));
}
/** This member's index along `axisName` (int32). @category lax */
export function axisIndex(axisName: string): Array {
  const p = axis('axisIndex', axisName);
  const own = mappedIndex(axisName)!;
  // Devices are numbered across processes: process k's come after those of processes before it.
  const rank = processGroup()?.rank ?? 0;
  return rank ? add(own, fullLike(own, rank * p.size)) : own;
}

/**
 * `pmean` of a whole pytree (gradients) in buckets of about `bucketBytes` (PyTorch DDP's
 * `bucket_cap_mb`, default 25 MB): leaves are flattened and concatenated per dtype into buckets, each
 * bucket reduced with one collective (one MPI allreduce across processes instead of one per
 * leaf), then split back into the tree.
 * @example const g = lax.pmeanBuckets(grads, 'devices', { bucketBytes: 4 << 20 });
 * @category lax
 */
export function pmeanBuckets<T>(x: T, axisName: string, opts: { bucketBytes?: number } = {}): T {
  axis('pmeanBuckets', axisName);
  const cap = opts.bucketBytes ?? 25 << 20;
  if (!(cap > 0)) throw new ShapeError(`pmeanBuckets: bucketBytes must be positive, got ${cap}`);
  const [leafList, def] = flattenTree<Array>(x as never);
  const out: Array[] = new globalThis.Array(leafList.length);
  // Consecutive leaves of one dtype share a bucket until it would pass the cap.
  let bucket: number[] = [];
  let bytes = 0;
  const flush = () => {
    if (!bucket.length) return;
    const parts = bucket.map((i) => reshape(leafList[i], [leafList[i].size]));
    const joined = parts.length === 1 ? parts[0] : bind1(concatenateP, parts, { axis: 0 });
    const reduced = pmean(joined, axisName);
    let offset = 0;
    for (const i of bucket) {
      const n = leafList[i].size;
      const piece = bind1(sliceP, [reduced], { start: [offset], limit: [offset + n], strides: [1] });
      out[i] = reshape(piece, leafList[i].shape);
      offset += n;
    }
    bucket = [];
    bytes = 0;
  };
  leafList.forEach((leaf, i) => {
    const size = leaf.size * 4;
    if (bucket.length && (bytes + size > cap || leafList[bucket[0]].dtype !== leaf.dtype)) flush();
    bucket.push(i);
    bytes += size;
  });
  flush();
  return unflattenTree(def, out) as T;
}
