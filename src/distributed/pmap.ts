/**
 * Devices and `pmap`. Each process holds `FLUXION_CPU_DEVICES` CPU devices (default 1; as JAX's
 * `xla_force_host_platform_device_count`), and a job started by `mpiexec` has several processes:
 * `pmap` maps the leading axis over them with the axis named for collectives, compiled once
 * (`jit` of a named `vmap`, whose collectives become reductions and gathers over that axis).
 * @module
 */
import { FluxionError, ShapeError, fmtShape } from '../core/errors.js';
import { checkOptions, t } from '../core/options.js';
import { processGroup } from './mpi.js';
import { jit } from '../transforms/jit.js';
import { type Axes, expandAxes, vmap } from '../transforms/vmap.js';
import { flattenArgs } from '../transforms/flat.js';
import { reshape } from '../primitives/index.js';
import { flatten, unflatten } from '../tree.js';
import { Array, ConcreteArray } from '../core/array.js';
import { isFloat } from '../core/dtype.js';

/** A device of this process. @category Distributed */
export interface Device {
  id: number;
  kind: 'cpu';
  processIndex: number;
}

/** The number of CPU devices this process presents (`FLUXION_CPU_DEVICES`, default 1). @category Distributed */
export function localDeviceCount(): number {
  const raw = typeof process === 'undefined' ? undefined : process.env.FLUXION_CPU_DEVICES;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 4096)
    throw new FluxionError(`FLUXION_CPU_DEVICES must be a positive integer, got '${raw.slice(0, 20)}'`);
  return n;
}
/** This process's devices. @category Distributed */
export const localDevices = (): Device[] =>
  globalThis.Array.from({ length: localDeviceCount() }, (_, id) => ({ id, kind: 'cpu' as const, processIndex: 0 }));
/** This process's index in the job (0 without MPI). @category Distributed */
export const processIndex = (): number => processGroup()?.rank ?? 0;
/** The number of processes in the job. @category Distributed */
export const processCount = (): number => processGroup()?.size ?? 1;
/** Every device of the job, process by process (each presents the same local count). @category Distributed */
export const devices = (): Device[] =>
  globalThis.Array.from({ length: processCount() }, (_, p) =>
    localDevices().map((d) => ({ ...d, id: p * localDeviceCount() + d.id, processIndex: p })),
  ).flat();

/**
 * Joins the job: a no-op for a single process; under `mpiexec`/`srun` with several processes it
 * initialises MPI, after which every collective reduces across all of their devices.
 * @example const { processIndex, processCount } = distributed.initialize();
 * @category Distributed
 */
export function initialize(): { processIndex: number; processCount: number } {
  return { processIndex: processIndex(), processCount: processCount() };
}
/**
 * Every process gets process `root`'s values of a pytree (initial parameters, say), through MPI;
 * the identity for a single process. Leaves must be known arrays (call it outside jit).
 * @example params = distributed.broadcast(params); // every process starts from process 0's
 * @category Distributed
 */
export function broadcast<T>(tree: T, root = 0): T {
  const group = processGroup();
  if (!group) return tree;
  if (!Number.isInteger(root) || root < 0 || root >= group.size)
    throw new FluxionError(`distributed.broadcast: root ${root} is not a process of the ${group.size}`);
  const [leaves, def] = flatten<Array>(tree as never);
  const sent = leaves.map((leaf) => {
    const c = leaf.toConcrete();
    if (!c) throw new FluxionError('distributed.broadcast: leaves must be known arrays (call it outside jit)');
    // Every other process contributes zeros: the sum is the root's values.
    const mine = c.buffer;
    const data = group.rank === root ? mine : new (mine.constructor as new (n: number) => typeof mine)(c.size);
    return new ConcreteArray(group.allreduce(data, 'sum'), c.shape, c.dtype);
  });
  return unflatten(def, sent) as T;
}
/** Puts computed values on the device of an array like them (the backends install it: WebGPU uploads). */
let placeLike = (_like: Array, value: ConcreteArray): Array => value;
/** Installs how {@link allReduce} returns values to their arrays' devices. */
export const installPlacement = (f: (like: Array, value: ConcreteArray) => Array): void => void (placeLike = f);

/**
 * Every leaf of a tree combined across the job's processes (`'sum'`, `'mean'`, `'max'`, `'min'`),
 * outside any step: arrays on any device are read (`await x.data()`), each dtype's leaves travel in
 * one `MPI_Allreduce`, and the results come back on the leaves' devices (inside a step,
 * `lax.pmean` under `pmap` does the same on any backend). The identity in a single process.
 * @example const g = await distributed.allReduce(jit(grad(loss))(params, batch), 'mean');
 * @category Distributed
 */
export async function allReduce<T>(tree: T, op: 'sum' | 'mean' | 'max' | 'min' = 'sum'): Promise<T> {
  if (!['sum', 'mean', 'max', 'min'].includes(op))
    throw new FluxionError(`distributed.allReduce: op must be 'sum', 'mean', 'max' or 'min', got '${String(op)}'`);
  const [leaves, def] = flatten<Array>(tree as never);
  for (const leaf of leaves)
    if (!(leaf instanceof Array)) throw new FluxionError('distributed.allReduce: every leaf must be an array');
  if (op === 'mean' && leaves.some((l) => !isFloat(l.dtype)))
    throw new FluxionError("distributed.allReduce: 'mean' needs float leaves (sum integers and divide yourself)");
  const group = processGroup();
  if (!group) return tree;
  const values = await Promise.all(leaves.map((l) => l.data()));
  const out = new globalThis.Array<Array>(leaves.length);
  // One buffer per storage type: its leaves back to back, one MPI call.
  const byType = new Map<string, number[]>();
  values.forEach((v, i) => byType.set(v.constructor.name, [...(byType.get(v.constructor.name) ?? []), i]));
  for (const members of byType.values()) {
    const first = values[members[0]];
    const joined = new (first.constructor as new (n: number) => typeof first)(
      members.reduce((n, i) => n + values[i].length, 0),
    );
    members.reduce((at, i) => (joined.set(values[i], at), at + values[i].length), 0);
    const reduced = group.allreduce(joined, op === 'mean' ? 'sum' : op);
    let at = 0;
    for (const i of members) {
      const part = reduced.slice(at, (at += values[i].length));
      if (op === 'mean') for (let k = 0; k < part.length; k++) part[k] /= group.size;
      out[i] = placeLike(leaves[i], new ConcreteArray(part, leaves[i].shape, leaves[i].dtype));
    }
  }
  return unflatten(def, out) as T;
}

/** Waits for every process. @category Distributed */
export const barrier = (): void => processGroup()?.barrier();
/**
 * Leaves the job (MPI_Finalize, which waits for every process to call it), as JAX's
 * `distributed.shutdown`: afterwards collectives across processes are refused with a clear error.
 * A no-op in a single process; a process that exits cleanly shuts down by itself.
 * @category Distributed
 */
export const shutdown = (): void => processGroup()?.shutdown();

/** Options of {@link pmap}. @category Distributed */
export interface PmapOptions {
  /** Names the mapped axis for collectives (`lax.psum(x, axisName)`). */
  axisName?: string;
  /** Which argument axes are mapped (default 0, the leading one; null for replicated arguments). */
  inAxes?: Axes;
  /** Where the mapped axis goes in the outputs (default 0). */
  outAxes?: Axes;
  /** Arguments whose buffers the step may reuse for its outputs, as jit's `donateArgnums`. */
  donateArgnums?: number[];
}

/**
 * Maps `f` over the leading axis of its arguments, one slice per device, with JAX's semantics:
 * the axis may not be longer than the devices, collectives inside reduce over all of them, and
 * the whole step compiles once.
 * @example
 * const step = pmap((p, x, y) => lax.pmean(grad(loss)(p, x, y), 'd'), { axisName: 'd', inAxes: [null, 0, 0] });
 * @category Distributed
 */
export function pmap<F extends (...args: any[]) => any>(f: F, opts: PmapOptions = {}): F {
  const o = checkOptions(
    'pmap',
    { axisName: t.string, inAxes: t.unknown, outAxes: t.unknown, donateArgnums: t.array(t.number) },
    opts,
  );
  const compile = { donateArgnums: o.donateArgnums };
  const mapped = jit(vmap(f, { inAxes: opts.inAxes, outAxes: opts.outAxes, axisName: opts.axisName }), compile);
  // One device (per process, the usual data-parallel layout): f runs on the slices unbatched, under
  // an axis of size 1 for its collectives, so the step compiles as plainly as jit(f) (a batched
  // graph of one member would miss the lowering's rewrites, convolutions above all).
  const single = jit((...args: unknown[]) => {
    const [leaves, def] = flattenArgs(args);
    const inAxes = opts.inAxes === undefined ? 0 : opts.inAxes;
    const dims =
      typeof inAxes === 'number' || inAxes === null ? leaves.map(() => inAxes) : expandAxes(inAxes, def, 'inAxes');
    const slices = leaves.map((x, i) => {
      const d = dims[i];
      if (d === null) return x;
      const a = d < 0 ? d + x.ndim : d;
      if (x.shape[a] !== 1)
        throw new ShapeError(
          `pmap: mapped axes disagree in size: 1 and ${x.shape[a]} (an argument of shape ${fmtShape(x.shape)})`,
        );
      return reshape(
        x,
        x.shape.filter((_, k) => k !== a),
      );
    });
    const unmapped = { inAxes: null, outAxes: opts.outAxes, axisName: opts.axisName, axisSize: 1 };
    return vmap(f, unmapped)(...(unflatten(def, slices) as unknown[]));
  }, compile);
  return ((...args: unknown[]) => {
    processGroup(); // joins the job first, so collectives reduce across processes
    const count = localDeviceCount();
    let length: number | undefined;
    // The mapped length: the first argument mapped at a numeric axis (per-argument inAxes lists may hold null).
    const inAxes = opts.inAxes === undefined ? 0 : opts.inAxes;
    const axisOf = (k: number) => (typeof inAxes === 'number' || inAxes === null ? inAxes : (inAxes as Axes[])[k]);
    for (let k = 0; k < args.length; k++) {
      const ax = globalThis.Array.isArray(inAxes) || typeof inAxes !== 'object' ? axisOf(k) : 0;
      const [leaves] = flatten<unknown>(args[k]);
      const first = leaves.find((l): l is Array => l instanceof Array);
      if (typeof ax !== 'number' || !first) continue;
      const size = first.shape[ax < 0 ? ax + first.ndim : ax];
      if (size > count)
        throw new ShapeError(
          `pmap: the mapped axis has ${size} entries but there are ${count} devices (set FLUXION_CPU_DEVICES)`,
        );
      length = size;
      break;
    }
    return length === 1 ? single(...args) : mapped(...args);
  }) as F;
}
