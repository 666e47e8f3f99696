/**
 * The process group: MPI (Debian's MPICH, `libmpich.so.12`) called through `koffi`, an optional
 * dependency loaded on first use. Every byte between processes goes through MPI; a program not
 * started by `mpiexec`/`srun` with several processes never loads it.
 * @module
 */
import type { TypedArray } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import { installProcessGroup, type ReduceOp } from '../primitives/collectives.js';

// MPICH's handles (mpi.h): integers, stable across MPICH versions.
const COMM_WORLD = 0x44000000;
const DATATYPE: Record<string, number> = {
  Float32Array: 0x4c00040a,
  Float64Array: 0x4c00080b,
  Int32Array: 0x4c000405,
  Uint32Array: 0x4c000406,
};
const OP: Record<ReduceOp, number> = { max: 0x58000001, min: 0x58000002, sum: 0x58000003 };

interface Mpi {
  rank: number;
  size: number;
  allreduce(data: TypedArray, op: ReduceOp): TypedArray;
  /** Every process's `data` (equal lengths), concatenated in process order. */
  allgather(data: TypedArray): TypedArray;
  barrier(): void;
  /** Leaves the job (MPI_Finalize, once every process arrives); collectives across processes then refuse. */
  shutdown(): void;
}
let mpi: Mpi | null = null;

/**
 * Was this process started by an MPI launcher with others? MPICH's hydra sets PMI_FD (or PMI_PORT
 * with `-pmi-port`, whose connection survives `npm`/`npx` child processes), Slurm SLURM_NTASKS.
 */
const launched = (): boolean => {
  if (typeof process === 'undefined') return false; // browsers: one process
  const env = process.env;
  return (
    Boolean(env.PMI_FD || env.PMI_PORT) || Number(env.PMI_SIZE ?? env.OMPI_COMM_WORLD_SIZE ?? env.SLURM_NTASKS ?? 1) > 1
  );
};

/** Joins the MPI job (once); null for a process that no launcher started. */
export function processGroup(): Mpi | null {
  if (mpi || !launched()) return mpi;
  let koffi: any;
  try {
    const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module');
    koffi = createRequire(import.meta.url)('koffi');
  } catch {
    throw new FluxionError('distributed: several processes need the optional dependency koffi (npm install koffi)');
  }
  // Debian's MPICH runs over UCX, whose memory hooks (patched malloc and mmap, to invalidate cached
  // registrations for network cards) fight V8's and ONNX Runtime's own allocators: now and then a
  // process crashed in V8 after a collective. Processes here exchange through shared memory or TCP,
  // which need no registration cache; set them before loading the library, which reads them.
  process.env.UCX_MEM_MALLOC_HOOKS ??= 'no';
  process.env.UCX_MEM_MMAP_HOOK_MODE ??= 'none';
  let lib: any;
  try {
    lib = koffi.load('libmpich.so.12');
  } catch {
    throw new FluxionError("distributed: cannot load MPICH's libmpich.so.12 (Debian: apt install mpich)");
  }
  const init = lib.func('int MPI_Init(void *argc, void *argv)');
  const rank = lib.func('int MPI_Comm_rank(int comm, _Out_ int *rank)');
  const size = lib.func('int MPI_Comm_size(int comm, _Out_ int *size)');
  const allreduce = lib.func(
    'int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, int datatype, int op, int comm)',
  );
  const allgather = lib.func(
    'int MPI_Allgather(const void *sendbuf, int sendcount, int sendtype, void *recvbuf, int recvcount, int recvtype, int comm)',
  );
  const barrier = lib.func('int MPI_Barrier(int comm)');
  const finalize = lib.func('int MPI_Finalize()');
  // Waiting processes yield the core often: with more processes than cores (a laptop, CI), MPICH's
  // busy polling would otherwise starve the process everyone waits for.
  process.env.MPIR_CVAR_POLLS_BEFORE_YIELD ??= '16';
  if (init(null, null) !== 0) throw new FluxionError('distributed: MPI_Init failed');
  const [r, s] = [[0], [0]];
  rank(COMM_WORLD, r);
  size(COMM_WORLD, s);
  // A failing process names itself; the launcher then stops the others (MPICH's hydra does at once).
  process.on('uncaughtExceptionMonitor', (err) =>
    console.error(`fluxion: process ${r[0]} of ${s[0]} failed: ${(err as Error).message ?? err}`),
  );
  let finalized = false;
  process.on('exit', (code) => {
    // A clean exit finalises; a failing one leaves MPI to the launcher, which stops every process.
    if (code === 0 && !finalized) finalize();
  });
  const typeOf = (data: TypedArray) => {
    const type = DATATYPE[data.constructor.name];
    if (type === undefined)
      throw new FluxionError(`distributed: collectives across processes take float32, float64, int32 or uint32 data`);
    return type;
  };
  const alloc = (like: TypedArray, n: number) => new (like.constructor as new (n: number) => TypedArray)(n);
  // Every process must bring as many elements: each first learns the smallest and largest count
  // (one small allreduce), and all of them refuse a mismatch together instead of corrupting memory.
  const INT32 = DATATYPE.Int32Array;
  const live = (what: string) => {
    if (finalized)
      throw new FluxionError(`distributed: ${what} after distributed.shutdown(): this process has left the job`);
  };
  const agree = (n: number, what: string) => {
    live(what);
    const counts = new Int32Array([n, -n]),
      extremes = new Int32Array(2);
    if (allreduce(counts, extremes, 2, INT32, OP.max, COMM_WORLD) !== 0)
      throw new FluxionError(`distributed: MPI_Allreduce failed (rank ${r[0]})`);
    if (extremes[0] !== -extremes[1])
      throw new FluxionError(
        `distributed: ${what}: the processes hold different sizes (${-extremes[1]} to ${extremes[0]} elements; ` +
          `process ${r[0]} has ${n}): every process must call it on arrays of the same shape`,
      );
  };
  mpi = {
    rank: r[0],
    size: s[0],
    allreduce(data, op) {
      agree(data.length, `${op === 'sum' ? 'psum' : `p${op}`}`);
      const out = alloc(data, data.length);
      if (allreduce(data, out, data.length, typeOf(data), OP[op], COMM_WORLD) !== 0)
        throw new FluxionError(`distributed: MPI_Allreduce failed (rank ${r[0]})`);
      return out;
    },
    allgather(data) {
      agree(data.length, 'allGather');
      const type = typeOf(data);
      const out = alloc(data, data.length * s[0]);
      if (allgather(data, data.length, type, out, data.length, type, COMM_WORLD) !== 0)
        throw new FluxionError(`distributed: MPI_Allgather failed (rank ${r[0]})`);
      return out;
    },
    barrier: () => {
      live('barrier');
      barrier(COMM_WORLD);
    },
    shutdown() {
      if (!finalized) finalize();
      finalized = true;
    },
  };
  installProcessGroup(mpi);
  return mpi;
}
