// Run by test/mpi.test.ts under `mpiexec -n P node --import tsx test/mpi/worker.ts MODE` (node itself:
// npx would not pass MPI's launcher connection on); prints one JSON line.
// - collectives: psum/pmean/pmax/pmin of lengths 1, 1,000 and 1,000,003 across the processes;
// - train: 20 SGD steps of an MLP on a global batch of 256 split across the processes (pmean of
//   the per-process gradients), printing the final parameters, then a checkpoint written by process 0;
// - gather: allGather (stacked, tiled), psumScatter, ppermute, axisIndex and grad through allGather
//   with members numbered across processes;
// - webgpu: gradients on each process's GPU averaged with distributed.allReduce, and a pmap step
//   whose lax.pmean and allGather run through MPI between its WebGPU segments;
// - mismatch: processes psum arrays of different sizes, which each must refuse;
// - fail: rank 1 throws after joining, to check that the job stops.
import {
  type Array,
  GpuArray,
  devices,
  distributed,
  grad,
  io,
  jit,
  lax,
  nn,
  np,
  optim,
  pmap,
  random,
  toDevice,
} from '../../src/index.js';

const mode = process.argv[2];
const { processIndex: rank, processCount: size } = distributed.initialize();

if (mode === 'collectives') {
  const out: Record<string, number[]> = {};
  for (const n of [1, 1000, 1_000_003]) {
    // Process r contributes r + 1 + i·1e-6 at position i (exact in float32 for the checks below).
    const x = np.add(np.full([1, n], rank + 1, { dtype: 'float32' }), np.multiply(np.arange(n), 1e-6).reshape([1, n]));
    const f = pmap(
      (v: Array) => ({ sum: lax.psum(v, 'd'), mean: lax.pmean(v, 'd'), max: lax.pmax(v, 'd'), min: lax.pmin(v, 'd') }),
      { axisName: 'd' },
    );
    const r = f(x);
    const first = (a: Array) => a.dataSync()[0];
    const last = (a: Array) => a.dataSync()[n - 1];
    out[n] = [first(r.sum), last(r.sum), first(r.mean), first(r.max), first(r.min)];
  }
  // broadcast: every process gets the last process's values; pmeanBuckets: one allreduce per bucket.
  const from = distributed.broadcast({ w: np.full([3], rank + 1, { dtype: 'float32' }) }, size - 1);
  const buckets = pmap(
    (v: Array) => lax.pmeanBuckets({ a: v, b: np.multiply(v, 2), c: np.add(v, 1) }, 'd', { bucketBytes: 16 }),
    { axisName: 'd' },
  )(np.full([1, 4], rank + 1, { dtype: 'float32' }));
  const first = (a: Array) => a.dataSync()[0];
  console.log(
    JSON.stringify({
      rank,
      size,
      out,
      broadcast: globalThis.Array.from(from.w.dataSync()),
      buckets: [first(buckets.a), first(buckets.b), first(buckets.c)],
    }),
  );
} else if (mode === 'gather') {
  // Member g (process-major: rank * local + l) holds [10g, 10g + 1]; members number across processes.
  const local = distributed.localDevices().length;
  const g0 = rank * local;
  const x = np.astype(
    np.add(np.multiply(np.reshape(np.arange(g0, g0 + local), [local, 1]), 10), np.arange(2)),
    'float32',
  );
  const members = local * size;
  const w = np.astype(np.reshape(np.arange(members * 2), [members, 2]), 'float32');
  const r = pmap(
    (v: Array) => ({
      gathered: lax.allGather(v, 'd'),
      tiled: lax.allGather(v, 'd', { tiled: true }),
      scattered: lax.psumScatter(
        np.multiply(np.arange(members * 2), np.add(np.astype(lax.axisIndex('d'), 'float32'), 1)),
        'd',
        { tiled: true },
      ),
      shifted: lax.ppermute(
        v,
        'd',
        globalThis.Array.from({ length: members }, (_, i) => [i, (i + 1) % members] as const),
      ),
      index: lax.axisIndex('d'),
      grad: grad((u: Array) => np.sum(np.multiply(lax.allGather(u, 'd'), w)))(v),
    }),
    { axisName: 'd' },
  )(x);
  const list = (a: Array) => globalThis.Array.from(a.dataSync() as ArrayLike<number>);
  // After shutdown, a collective across processes is refused instead of calling a finalised MPI.
  distributed.shutdown();
  distributed.shutdown(); // twice is fine
  const afterShutdown = (() => {
    try {
      pmap((v: Array) => lax.psum(v, 'd'), { axisName: 'd' })(np.ones([2, 3]));
      return 'none';
    } catch (e) {
      return (e as Error).message;
    }
  })();
  console.log(
    JSON.stringify({
      rank,
      size,
      local,
      afterShutdown,
      ...Object.fromEntries(Object.entries(r).map(([k, v]) => [k, list(v)])),
    }),
  );
} else if (mode === 'train') {
  const model = nn.serial(nn.dense(16), nn.relu, nn.dense(4));
  const { params } = model.init(random.key(0), [256, 8]);
  const xs = random.normal(random.key(1), [256, 8]);
  const ys = np.remainder(np.arange(256), 4).astype('int32');
  const opt = optim.sgd(0.1);
  // This process's shard of the global batch; one device per process.
  const per = 256 / size;
  const x = np.expandDims(np.slice(xs, `${rank * per}:${(rank + 1) * per}`), 0);
  const y = np.expandDims(np.slice(ys, `${rank * per}:${(rank + 1) * per}`), 0);
  const loss = (p: unknown, xb: Array, yb: Array) => nn.softmaxCrossEntropy(model.apply(p, {}, xb).y, yb);
  const step = pmap(
    (p: unknown, xb: Array, yb: Array) => {
      const g = lax.pmean(grad(loss)(p, xb, yb), 'd');
      return optim.applyUpdates(p, opt.update(g, opt.init(p), p).updates);
    },
    { axisName: 'd', inAxes: [null, 0, 0], outAxes: null },
  );
  let p: unknown = params;
  for (let i = 0; i < 20; i++) p = step(p, x, y);
  const flat = (p as any)['2'].weight.dataSync() as Float32Array;
  // Process 0 writes the checkpoint; every process finds it complete once saveFile returns.
  const file = process.env.FLUXION_TEST_CHECKPOINT!;
  await io.saveFile(file, p);
  const back = (await io.loadFile(file)).params as any;
  const checkpoint = globalThis.Array.from(back['2'].weight.dataSync() as Float32Array).every((v, i) => v === flat[i]);
  console.log(JSON.stringify({ rank, size, weights: globalThis.Array.from(flat.slice(0, 16)), checkpoint }));
} else if (mode === 'webgpu') {
  // Data parallelism on WebGPU: each process's gradient on its GPU, averaged across processes with
  // distributed.allReduce between steps; every process compares with the full-batch gradient.
  const gpu = (await devices()).some((d) => d.name === 'webgpu');
  if (!gpu) console.log(JSON.stringify({ rank, skipped: 'no WebGPU adapter' }));
  else {
    const w = random.normal(random.key(0), [4, 3]);
    const xs = random.normal(random.key(1), [8, 4]),
      ys = random.normal(random.key(2), [8, 3]);
    const loss = (p: Array, x: Array, y: Array) => np.mean(np.square(np.subtract(np.matmul(x, p), y)));
    const per = 8 / size;
    const [x, y] = [xs, ys].map((a) => np.slice(a, [rank * per, (rank + 1) * per]));
    const local = jit(grad(loss))(
      await toDevice(w, 'webgpu'),
      await toDevice(x, 'webgpu'),
      await toDevice(y, 'webgpu'),
    );
    const { g } = await distributed.allReduce({ g: local }, 'mean');
    const full = grad(loss)(w, xs, ys).dataSync();
    const got = await g.data();
    const diff = Math.max(...globalThis.Array.from(got, (v, i) => Math.abs(v - full[i])));
    // Five SGD steps with the gradient mean inside the step (segments around MPI, on the GPU), against
    // five full-batch steps on the CPU; the step also gathers every process's loss.
    const step = pmap(
      (p: Array, x: Array, y: Array) => {
        const g = lax.pmean(grad(loss)(p, x, y), 'd');
        return { p: np.subtract(p, np.multiply(g, 0.1)), losses: lax.allGather(loss(p, x, y), 'd') };
      },
      { axisName: 'd', inAxes: [null, 0, 0], outAxes: { p: null, losses: 0 } },
    );
    const [gx, gy] = await Promise.all([x, y].map((a) => toDevice(a.reshape([1, ...a.shape]), 'webgpu')));
    let [onGpu, cpu] = [await toDevice(w, 'webgpu'), w];
    let [losses, lastLoss]: Array[] = [np.zeros([0]), np.zeros([])];
    for (let i = 0; i < 5; i++) {
      ({ p: onGpu, losses } = step(onGpu, gx, gy));
      lastLoss = loss(cpu, xs, ys); // the full batch's loss: the mean of the processes' equal halves
      cpu = np.subtract(cpu, np.multiply(grad(loss)(cpu, xs, ys), 0.1));
    }
    const stepped = await onGpu.data(),
      expected = cpu.dataSync();
    const stepDiff = Math.max(...globalThis.Array.from(stepped, (v, i) => Math.abs(v - expected[i])));
    // A host step that fails (processes psum different sizes) fails the arrays computed from it.
    const bad = pmap((v: Array) => np.add(lax.psum(v, 'd'), 1), { axisName: 'd' });
    const failure = await bad(await toDevice(np.ones([1, rank + 3]), 'webgpu'))
      .data()
      .then(
        () => 'none',
        (e: Error) => e.message,
      );
    console.log(
      JSON.stringify({
        rank,
        onGpu: g instanceof GpuArray && onGpu instanceof GpuArray,
        diff,
        stepDiff,
        gathered: globalThis.Array.from(await losses.data()),
        fullLoss: lastLoss.item(),
        failure,
      }),
    );
  }
} else if (mode === 'mismatch') {
  // Process r brings r + 3 elements: every process must refuse, none may hang or corrupt memory.
  pmap((v: Array) => lax.psum(v, 'd'), { axisName: 'd' })(np.ones([1, rank + 3]));
  console.log(JSON.stringify({ rank, unexpected: 'psum of mismatched sizes passed' }));
} else if (mode === 'killed') {
  if (rank === 1) process.kill(process.pid, 'SIGKILL');
  distributed.barrier();
  console.log(JSON.stringify({ rank, unexpected: 'passed the barrier' }));
} else if (mode === 'fail') {
  if (rank === 1) throw new Error('rank 1 fails on purpose');
  distributed.barrier(); // rank 0 waits for a peer that never arrives: the launcher must stop it
  console.log(JSON.stringify({ rank, unexpected: 'passed the barrier' }));
}
