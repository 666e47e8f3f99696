// Allreduce bandwidth against message size, as nccl-tests report it (bus bandwidth = 2(P-1)/P ·
// bytes / time), for MPI directly and for lax.psum inside a jitted pmap step (which adds the
// ONNX Runtime sessions around the MPI step). Run: npm run bench:distributed (mpiexec -n 2).
import { type Array, distributed, lax, np, pmap } from '../src/index.js';
import { processGroup } from '../src/distributed/mpi.js';

const { processIndex: rank, processCount: size } = distributed.initialize();
const group = processGroup();
if (!group) throw new Error('run under mpiexec with at least 2 processes: npm run bench:distributed');
const median = (f: () => void, repeats = 11) => {
  f();
  const ts: number[] = [];
  for (let i = 0; i < repeats; i++) {
    distributed.barrier();
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[repeats >> 1];
};
const rows: string[] = [];
for (const n of [1_000, 100_000, 1_000_000, 4_000_000]) {
  const data = new Float32Array(n).fill(rank + 1);
  const mpiMs = median(() => void group.allreduce(data, 'sum'));
  const x = np.array(data, { shape: [1, n] });
  const step = pmap((v: Array) => lax.psum(v, 'd'), { axisName: 'd' });
  const psumMs = median(() => void step(x).dataSync());
  const bus = (ms: number) => (((2 * (size - 1)) / size) * ((4 * n) / (ms / 1000))) / 1e9;
  rows.push(
    `| ${n.toLocaleString('en')} | ${((4 * n) / 1e6).toFixed(3)} MB | ${mpiMs.toFixed(3)} | ${bus(mpiMs).toFixed(2)} | ${psumMs.toFixed(3)} | ${bus(psumMs).toFixed(2)} |`,
  );
}
if (rank === 0) {
  console.log(`allreduce across ${size} processes (float32 sum)\n`);
  console.log(
    '| floats | bytes | MPI_Allreduce ms | bus GB/s | pmap(psum) ms | bus GB/s |\n|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of rows) console.log(r);
}
