/**
 * Devices and `pmap`. One process holds `FLUXION_CPU_DEVICES` CPU devices (default 1; as JAX's
 * `xla_force_host_platform_device_count`), so multi-device semantics are testable in one process:
 * `pmap` maps the leading axis over them with the axis named for collectives, compiled once
 * (`jit` of a named `vmap`, whose collectives become reductions and gathers over that axis).
 * @module
 */
import { FluxionError, ShapeError } from '../core/errors.js';
import { jit } from '../transforms/jit.js';
import { type Axes, vmap } from '../transforms/vmap.js';
import { flatten } from '../tree.js';
import { Array } from '../core/array.js';

/** A device of this process. @category Distributed */
export interface Device {
  id: number;
  kind: 'cpu';
  processIndex: number;
}

/** The number of CPU devices this process presents (`FLUXION_CPU_DEVICES`, default 1). @category Distributed */
export function localDeviceCount(): number {
  const raw = process.env.FLUXION_CPU_DEVICES;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 4096)
    throw new FluxionError(`FLUXION_CPU_DEVICES must be a positive integer, got '${raw.slice(0, 20)}'`);
  return n;
}
/** This process's devices. @category Distributed */
export const localDevices = (): Device[] =>
  globalThis.Array.from({ length: localDeviceCount() }, (_, id) => ({ id, kind: 'cpu' as const, processIndex: 0 }));
/** Every device of the job (one process: the local ones). @category Distributed */
export const devices = (): Device[] => localDevices();
/** This process's index in the job. @category Distributed */
export const processIndex = (): number => 0;
/** The number of processes in the job. @category Distributed */
export const processCount = (): number => 1;

/**
 * Joins the job. A single process needs nothing; a program started by `mpiexec` or `srun` with
 * several processes is refused, since the MPI communicator is not part of this build yet.
 * @category Distributed
 */
export function initialize(): { processIndex: number; processCount: number } {
  const size = Number(process.env.PMI_SIZE ?? process.env.OMPI_COMM_WORLD_SIZE ?? process.env.SLURM_NTASKS ?? 1);
  if (size > 1)
    throw new FluxionError(
      `distributed.initialize: started as one of ${size} processes, but this build has no MPI communicator; run ` +
        `one process and use FLUXION_CPU_DEVICES=N for N devices`,
    );
  return { processIndex: 0, processCount: 1 };
}
/** Waits for every process (a single process has nothing to wait for). @category Distributed */
export const barrier = (): void => undefined;
/** Leaves the job. @category Distributed */
export const shutdown = (): void => undefined;

/** Options of {@link pmap}. @category Distributed */
export interface PmapOptions {
  /** Names the mapped axis for collectives (`lax.psum(x, axisName)`). */
  axisName?: string;
  /** Which argument axes are mapped (default 0, the leading one; null for replicated arguments). */
  inAxes?: Axes;
  /** Where the mapped axis goes in the outputs (default 0). */
  outAxes?: Axes;
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
  const mapped = jit(vmap(f, { inAxes: opts.inAxes, outAxes: opts.outAxes, axisName: opts.axisName }));
  return ((...args: unknown[]) => {
    const count = localDeviceCount();
    // The mapped length: the first argument mapped at a numeric axis (per-argument inAxes lists may hold null).
    const inAxes = opts.inAxes ?? 0;
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
      break;
    }
    return mapped(...args);
  }) as F;
}
