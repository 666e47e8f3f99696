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
import { broadcastInDim, moveBatchAxis, reduceSum, reshape, transpose } from './views.js';
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
  size: number;
  allreduce(data: TypedArray, op: ReduceOp): TypedArray;
}
let group: ProcessGroup = { size: 1, allreduce: (d) => d };
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
  props: { linear: true },
});
/** `x` combined across processes (itself in a single process). */
const acrossProcesses = (x: Array, op: ReduceOp) => (group.size > 1 ? bind1(allReduceP, [x], { op }) : x);

// ---------------------------------------------------------------- psum, pmax, pmin

export const psumP: Primitive<CollectiveParams> = defineLinear({
  name: 'psum',
  abstractEval: ([x]) => [x],
  impl: (_, p) => unbound('psum', p),
  transpose: ([ct], _x, p) => [bind1(psumP, [ct], p)],
  batch: ([x], [d], p) => [[bind1(psumP, [x], p)], [d]],
  collective: ([x], [d], _p, size) => [
    [acrossProcesses(d === null ? mul(x, fullLike(x, size)) : reduceSum(x, [d]), 'sum')],
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
    const shape = [...x.shape];
    if (tiled) shape[axis] *= size;
    else shape.splice(axis, 0, size);
    return [{ shape, dtype: x.dtype }];
  },
  impl: (_, p) => unbound('allGather', p),
  transpose: ([ct], _x, p) => [bind1(psumScatterP, [ct], p)],
  batch: elementwise(
    () => allGatherP,
    (p) => ({ ...p, axis: p.axis + 1 }),
  ),
  collective([x], [d], { axis, tiled }, size) {
    const stacked = moveBatchAxis(x, d, axis, size); // the members along a new axis at `axis`
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
    if (n === undefined || (tiled ? n % size !== 0 : n !== size))
      throw new ShapeError(
        `psumScatter: axis ${axis} of ${fmtShape(x.shape)} must ${tiled ? 'divide by' : 'equal'} the ${size} members`,
      );
    const shape = [...x.shape];
    if (tiled) shape[axis] = n / size;
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
    // Sum the members (an unmapped value is the same on each), then member i takes block i.
    const total = d === null ? mul(x, fullLike(x, size)) : reduceSum(x, [d]);
    const s = total.shape;
    const blocks = tiled ? reshape(total, [...s.slice(0, axis), size, s[axis] / size, ...s.slice(axis + 1)]) : total;
    const perm = [axis, ...range(blocks.ndim).filter((k) => k !== axis)];
    const out = transpose(blocks, perm);
    return [[out], [0]];
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
    const members = moveBatchAxis(x, d, 0, size);
    const source = range(size).map((t) => perm.find(([, dst]) => dst === t)?.[0] ?? -1);
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
