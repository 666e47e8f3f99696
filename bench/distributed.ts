// Allreduce bandwidth against message size, as nccl-tests report it (bus bandwidth = 2(P-1)/P ·
// bytes / time), for MPI directly and for lax.psum inside a jitted pmap step (which adds the
// ONNX Runtime sessions around the MPI step), and the data-parallel LeNet-5 step split into
// communication and the rest. Run: npm run bench:distributed (mpiexec -n 1, then -n 2).
import { type Array, distributed, jit, lax, models, nn, np, optim, pmap, random, valueAndGrad } from '../src/index.js';
import { processGroup } from '../src/distributed/mpi.js';
import { installProcessGroup } from '../src/primitives/collectives.js';

const { processIndex: rank, processCount: size } = distributed.initialize();
const group = processGroup();

// The LeNet-5 data-parallel Adam step of `npm start` (global batch 64, each process its share),
// split into the time inside MPI and the rest (ONNX Runtime's sessions and the copies across
// their boundary), measured by wrapping the process group's calls.
let commMs = 0;
if (group) {
  const timed =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      const t0 = performance.now();
      const r = f(...a);
      commMs += performance.now() - t0;
      return r;
    };
  installProcessGroup({
    rank: group.rank,
    size: group.size,
    allreduce: timed(group.allreduce),
    allgather: timed(group.allgather),
  });
}
const lenet = models.lenet5();
const per = 64 / size;
const init = lenet.init(random.key(0), [per, 1, 28, 28]);
const adam = optim.adam(1e-3);
type State = { params: unknown; opt: optim.ChainState };
const stepWith = (average: (g: unknown) => unknown) => (s: State, x: Array, y: Array) => {
  const [, g] = valueAndGrad((p: unknown) =>
    nn.softmaxCrossEntropy(lenet.apply(p, init.state, x, { training: true }).y, y),
  )(s.params);
  const { updates, state } = adam.update(average(g), s.opt, s.params);
  return { params: optim.applyUpdates(s.params, updates), opt: state };
};
const trainStep = stepWith((g) => lax.pmean(g, 'procs'));
const step = pmap(trainStep, { axisName: 'procs', inAxes: [null, 0, 0], outAxes: null });
const xs = random.normal(random.foldIn(random.key(1), rank), [1, per, 1, 28, 28]);
const ys = np.reshape(np.remainder(np.arange(per), 10).astype('int32'), [1, per]);
let state = { params: init.params, opt: adam.init(init.params) };
const run = () => {
  state = step(state, xs, ys) as typeof state;
  (np.sum((state.params as any).fc3.weight) as Array).item();
};
for (let i = 0; i < 3; i++) run();
const steps = 15;
distributed.barrier();
commMs = 0;
const t0 = performance.now();
for (let i = 0; i < steps; i++) run();
const stepMs = (performance.now() - t0) / steps,
  mpiMs = commMs / steps;
// The same step under plain jit, without pmap (one process): what pmap should cost.
const plain = jit(stepWith((g) => g));
const plainRun = () => {
  state = plain(state, np.squeeze(xs, { axis: 0 }), np.squeeze(ys, { axis: 0 })) as State;
  (np.sum((state.params as any).fc3.weight) as Array).item();
};
for (let i = 0; i < 3; i++) plainRun();
const t1 = performance.now();
for (let i = 0; i < steps; i++) plainRun();
const plainMs = (performance.now() - t1) / steps;
if (rank === 0) {
  console.log(`LeNet-5 Adam step, global batch 64, ${size} process(es) of one device\n`);
  console.log('| processes | batch per process | step ms | inside MPI ms | compute and copies ms | images/s |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  console.log(
    `| ${size} | ${per} | ${stepMs.toFixed(2)} | ${mpiMs.toFixed(2)} | ${(stepMs - mpiMs).toFixed(2)} | ${Math.round((64 / stepMs) * 1000)} |\n`,
  );
  console.log(`The same step (batch ${per}) under plain jit in this process: ${plainMs.toFixed(2)} ms\n`);
}
if (!group || size < 2) process.exit(0); // one process: no allreduce table
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
