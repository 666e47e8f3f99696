/**
 * Collectives over a mapped axis named by `vmap({ axisName })` or `pmap`: psum, pmax, pmin,
 * all_gather, psum_scatter and ppermute, as JAX defines them. Each is a primitive whose
 * `collective` rule says what it does to its named axis; over other mapped axes it applies
 * element by element. psum, all_gather, psum_scatter and ppermute are linear, and transpose into
 * each other (psum into psum, all_gather into psum_scatter, ppermute into the inverse
 * permutation), so `grad` through them is right.
 * @module
 */
import { type Array, ConcreteArray } from '../core/array.js';
import { FluxionError, ShapeError, fmtShape } from '../core/errors.js';
import type { TypedArray } from '../core/dtype.js';
import { type BatchDim, type Primitive, definePrimitive } from '../core/primitive.js';
import { bind1 } from '../core/trace.js';
import { fullLike, mul, select, zerosLike } from './elementwise.js';
import { gather } from './indexing.js';
import { reduceMax, reduceMinP } from './reduce.js';
import { broadcastInDim, moveBatchAxis, reduceSum, reshape, sliceP, transpose } from './views.js';
import { defineLinear, range } from './util.js';

/** Every collective names its axis; `size` is that axis's length, fixed when the collective is bound. */
export interface CollectiveParams {
  axisName: string;
  size: number;
}
const unbound = (op: string, p: CollectiveParams): never => {
  throw new FluxionError(
    `${op}: axis name '${p.axisName}' is not bound here; use collectives inside pmap or vmap({ axisName })`,
  );
};
/** Over another mapped axis, a collective applies element by element: the batch axis moves to the front. */
const elementwise =
  <P extends CollectiveParams>(prim: () => Primitive<P>, shift: (p: P) => P = (p) => p) =>
  (vals: Array[], dims: BatchDim[], params: P, size: number): [Array[], BatchDim[]] => {
    const moved = vals.map((v, i) => moveBatchAxis(v, dims[i], 0, size));
    return [[bind1(prim(), moved, shift(params))], [0]];
  };

// ---------------------------------------------------------------- across processes

/** How values combine across processes. */
export type ReduceOp = 'sum' | 'max' | 'min';
/** The processes of the job (installed by distributed/ when MPI is joined); one process by default. */
interface ProcessGroup {
  rank: number;
  size: number;
  allreduce(data: TypedArray, op: ReduceOp): TypedArray;
  allgather(data: TypedArray): TypedArray;
}
let group: ProcessGroup = { rank: 0, size: 1, allreduce: (d) => d, allgather: (d) => d };
/** Installs the process group collectives reduce across (distributed.initialize does). */
export const installProcessGroup = (g: ProcessGroup): void => void (group = g);
/** The number of processes collectives reduce across. */
export const processGroupSize = (): number => group.size;

/**
 * The combination of `x` across every process: a step that runs in JavaScript between ONNX
 * Runtime sessions (MPI on the array's buffer). Linear for sums (its own transpose).
 */
export const allReduceP: Primitive<{ op: ReduceOp }> = definePrimitive({
  name: 'all_reduce',
  abstractEval: ([x]) => [x],
  impl: ([x], { op }) => [new ConcreteArray(group.allreduce(x.buffer, op), x.shape, x.dtype)],
  jvp: ([x], [t], p) => {
    if (p.op !== 'sum') throw new FluxionError(`pmax/pmin across processes have no derivative`);
    return [[bind1(allReduceP, [x], p)], [bind1(allReduceP, [t], p)]];
  },
  transpose: ([ct], _x, p) => [bind1(allReduceP, [ct], p)],
  batch: ([x], [d], p) => [[bind1(allReduceP, [x], p)], [d]],
  props: { linear: true, host: true },
});
/** `x` combined across processes (itself in a single process). */
const acrossProcesses = (x: Array, op: ReduceOp) => (group.size > 1 ? bind1(allReduceP, [x], { op }) : x);

/**
 * Every process's `x` (members along axis 0), concatenated along axis 0 in process order: MPI's
 * allgather on the array's buffer. Its transpose sums the cotangent across processes and keeps
 * this process's block.
 */
export const allGatherProcessesP: Primitive = defineLinear({
  name: 'all_gather_processes',
  abstractEval: ([x]) => [{ shape: [x.shape[0] * group.size, ...x.shape.slice(1)], dtype: x.dtype }],
  impl: ([x]) => [
    new ConcreteArray(group.allgather(x.buffer), [x.shape[0] * group.size, ...x.shape.slice(1)], x.dtype),
  ],
  transpose: ([ct]) => [ownBlock(bind1(allReduceP, [ct], { op: 'sum' }))],
  batch: ([x], [d], _p, size) => {
    // The gathered axis stays first; the mapped one moves behind it.
    const moved = moveBatchAxis(x, d, 1, size);
    return [[bind1(allGatherProcessesP, [moved], {})], [1]];
  },
  props: { host: true },
});
/** This process's block of `x`, whose axis 0 holds every process's members in process order. */
function ownBlock(x: Array): Array {
  const n = x.shape[0] / group.size;
  return bind1(sliceP, [x], {
    start: x.shape.map((_, i) => (i === 0 ? group.rank * n : 0)),
    limit: x.shape.map((d, i) => (i === 0 ? (group.rank + 1) * n : d)),
    strides: x.shape.map(() => 1),
  });
}
/** The members of every process (axis 0), from this process's (axis 0). */
const membersOfAll = (x: Array) => (group.size > 1 ? bind1(allGatherProcessesP, [x], {}) : x);

// ---------------------------------------------------------------- psum, pmax, pmin

export const psumP: Primitive<CollectiveParams> = defineLinear({
  name: 'psum',
  abstractEval: ([x]) => [x],
  impl: (_, p) => unbound('psum', p),
  transpose: ([ct], _x, p) => [bind1(psumP, [ct], p)],
  batch: ([x], [d], p) => [[bind1(psumP, [x], p)], [d]],
  collective: ([x], [d], _p, size) => [
    [acrossProcesses(d === null ? (size === 1 ? x : mul(x, fullLike(x, size))) : reduceSum(x, [d]), 'sum')],
    [null],
  ],
});
const extremum = (
  name: string,
  op: ReduceOp,
  reduce: (x: Array, axes: number[]) => Array,
): Primitive<CollectiveParams> => {
  const prim: Primitive<CollectiveParams> = definePrimitive({
    name,
    abstractEval: ([x]) => [x],
    impl: (_, p) => unbound(name, p),
    batch: ([x], [d], p) => [[bind1(prim, [x], p)], [d]],
    collective: ([x], [d]) => [[acrossProcesses(d === null ? x : reduce(x, [d]), op)], [null]],
  });
  return prim;
};
export const pmaxP = extremum('pmax', 'max', reduceMax);
export const pminP = extremum('pmin', 'min', (x, axes) => bind1(reduceMinP, [x], { axes }));

// ---------------------------------------------------------------- all_gather and psum_scatter

export interface GatherParams extends CollectiveParams {
  /** Where the gathered (or scattered) axis is. */
  axis: number;
  /** Concatenate along `axis` instead of stacking a new one. */
  tiled: boolean;
}

/** `x` gathered from every member: stacked at `axis` (or concatenated with `tiled`). */
export const allGatherP: Primitive<GatherParams> = defineLinear({
  name: 'all_gather',
  abstractEval([x], { axis, tiled, size }) {
    if (axis < 0 || axis > x.shape.length - (tiled ? 1 : 0))
      throw new ShapeError(`allGather: axis ${axis} is out of range for ${fmtShape(x.shape)}`);
    const members = size * group.size; // every member of every process
    const shape = [...x.shape];
    if (tiled) shape[axis] *= members;
    else shape.splice(axis, 0, members);
    return [{ shape, dtype: x.dtype }];
  },
  impl: (_, p) => unbound('allGather', p),
  transpose: ([ct], _x, p) => [bind1(psumScatterP, [ct], p)],
  batch: elementwise(
    () => allGatherP,
    (p) => ({ ...p, axis: p.axis + 1 }),
  ),
  collective([x], [d], { axis, tiled }, size) {
    // The members of every process along a new axis at `axis`.
    const stacked = moveBatchAxis(membersOfAll(moveBatchAxis(x, d, 0, size)), 0, axis, size * group.size);
    if (!tiled) return [[stacked], [null]];
    const s = stacked.shape;
    return [[reshape(stacked, [...s.slice(0, axis), s[axis] * s[axis + 1], ...s.slice(axis + 2)])], [null]];
  },
});

/** The sum over the members, member i keeping block i along `axis` (the transpose of all_gather). */
export const psumScatterP: Primitive<GatherParams> = defineLinear({
  name: 'psum_scatter',
  abstractEval([x], { axis, tiled, size }) {
    const n = x.shape[axis];
    const members = size * group.size;
    if (n === undefined || (tiled ? n % members !== 0 : n !== members))
      throw new ShapeError(
        `psumScatter: axis ${axis} of ${fmtShape(x.shape)} must ${tiled ? 'divide by' : 'equal'} the ${members} members`,
      );
    const shape = [...x.shape];
    if (tiled) shape[axis] = n / members;
    else shape.splice(axis, 1);
    return [{ shape, dtype: x.dtype }];
  },
  impl: (_, p) => unbound('psumScatter', p),
  transpose: ([ct], _x, p) => [bind1(allGatherP, [ct], p)],
  batch: elementwise(
    () => psumScatterP,
    (p) => ({ ...p, axis: p.axis + 1 }),
  ),
  collective([x], [d], { axis, tiled }, size) {
    // Sum the members of every process (an unmapped value is the same on each), then member i
    // takes block i: this process's members take theirs.
    const total = acrossProcesses(d === null ? mul(x, fullLike(x, size)) : reduceSum(x, [d]), 'sum');
    const s = total.shape,
      members = size * group.size;
    const blocks = tiled
      ? reshape(total, [...s.slice(0, axis), members, s[axis] / members, ...s.slice(axis + 1)])
      : total;
    const perm = [axis, ...range(blocks.ndim).filter((k) => k !== axis)];
    const out = transpose(blocks, perm);
    return [[group.size > 1 ? ownBlock(out) : out], [0]];
  },
});

// ---------------------------------------------------------------- ppermute

export interface PermuteParams extends CollectiveParams {
  /** [source, destination] pairs; members no pair sends to receive zeros. */
  perm: readonly (readonly [number, number])[];
}
export const ppermuteP: Primitive<PermuteParams> = defineLinear({
  name: 'ppermute',
  abstractEval: ([x]) => [x],
  impl: (_, p) => unbound('ppermute', p),
  transpose: ([ct], _x, p) => [bind1(ppermuteP, [ct], { ...p, perm: p.perm.map(([s, t]) => [t, s] as const) })],
  batch: elementwise(() => ppermuteP),
  collective([x], [d], { perm }, size) {
    // Every member of every process, from which this process's members take what is sent to them.
    const members = membersOfAll(moveBatchAxis(x, d, 0, size));
    const first = group.rank * size;
    const source = range(size).map((t) => perm.find(([, dst]) => dst === first + t)?.[0] ?? -1);
    const sourceIdx = new ConcreteArray(
      Int32Array.from(source, (s) => Math.max(s, 0)),
      [size],
      'int32',
    );
    const moved = gather(members, sourceIdx, 0);
    const receives = new ConcreteArray(
      Uint8Array.from(source, (s) => +(s >= 0)),
      [size],
      'bool',
    );
    const received = broadcastInDim(receives, moved.shape, [0]);
    return [[select(received, moved, zerosLike(moved))], [0]];
  },
});
