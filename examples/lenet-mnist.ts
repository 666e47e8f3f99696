// The main job (`npm start`): train LeNet-5 on the 60k/10k MNIST on the best backend present,
// with a live progress bar, test accuracy after each epoch, a checkpoint, --resume, and the
// loss/accuracy curves drawn as an SVG next to the checkpoint.
// Run: npx tsx examples/lenet-mnist.ts [--epochs 4] [--batch 64] [--lr 2e-3] [--limit 60000]
//      [--test-limit 10000] [--backend cpu|webgpu] [--out checkpoints] [--resume]
//      [--dtype float32|bfloat16|float16]
// With --dtype bfloat16 or float16 it trains in mixed precision: parameters stored and computed in
// that dtype, float32 master weights in the optimizer, the loss in float32, and (float16) dynamic
// loss scaling.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import {
  type DType,
  type NDArray,
  devices,
  distributed,
  getCpuBackend,
  io,
  jit,
  lax,
  pmap,
  models,
  nn,
  np,
  optim,
  random,
  setCompilationCache,
  toDevice,
  tree,
  valueAndGrad,
} from '../src/index.js';
import { chart } from './chart.js';

const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '4' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '2e-3' },
    limit: { type: 'string', default: '60000' },
    'test-limit': { type: 'string', default: '10000' },
    backend: { type: 'string' },
    out: { type: 'string', default: 'checkpoints' },
    resume: { type: 'boolean', default: false },
    dtype: { type: 'string', default: 'float32' },
    cache: { type: 'string', default: '.cache/fluxion' },
  },
});
// Compiled graphs are kept here: a second run neither lowers nor optimises them again ('' turns it off).
setCompilationCache(args.cache || null);
// Under `mpiexec -pmi-port -n P npm start` each process trains on its part of every global batch
// and the gradients are averaged across processes (data parallelism); process 0 reports.
const { processIndex: rank, processCount: procs } = distributed.initialize();
const log = rank === 0 ? console.log : () => undefined;
const dtype = args.dtype as DType;
if (!['float32', 'bfloat16', 'float16'].includes(dtype))
  throw new Error(`--dtype must be float32, bfloat16 or float16, got ${dtype}`);
const mixed = dtype !== 'float32';
const epochs = Number(args.epochs),
  batchSize = Number(args.batch),
  lr = Number(args.lr);
const t0 = performance.now();
const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);

// Probing for a GPU starts Dawn; skip it when the CPU is asked for explicitly.
const cpu = { name: 'cpu' as const, description: getCpuBackend() === 'onnx' ? 'ONNX Runtime' : 'JavaScript kernels' };
// The WebGPU backend computes in 32-bit types only: mixed precision runs on the CPU.
const available = args.backend === 'cpu' || mixed || procs > 1 ? [cpu] : await devices();
const backend = (args.backend ?? available[0].name) as 'cpu' | 'webgpu';
const device = available.find((d) => d.name === backend);
if (!device) throw new Error(`backend ${backend} is not available (have: ${available.map((d) => d.name)})`);
const placeOn = async <T>(t: T, on: 'cpu' | 'webgpu'): Promise<T> => {
  const [leaves, def] = tree.flatten<NDArray>(t);
  return tree.unflatten(def, await Promise.all(leaves.map((l) => toDevice(l, on))));
};
const place = <T>(t: T) => placeOn(t, backend);

const { train, test } = io.mnist({ limitTrain: Number(args.limit), limitTest: Number(args['test-limit']) });
const n = train.images.shape[0];
log(`LeNet-5 on MNIST: ${n} training and ${test.images.shape[0]} test images`);
log(`backend: ${backend} (${device.description})${procs > 1 ? `, ${procs} processes (MPI)` : ''}`);

const model = mixed
  ? nn.precision(models.lenet5(), { dtype, paramDtype: dtype, outputDtype: 'float32' })
  : models.lenet5();
const stepsPerEpoch = io.batchCount(n, { batchSize, dropLast: true });
const adam = optim.adam(optim.cosineDecay(lr, epochs * stepsPerEpoch, 0.05));
const opt = mixed ? optim.mixedPrecision(adam) : adam;
const lossScale = dtype === 'float16' ? optim.dynamicLossScale() : null;
log(`dtype: ${dtype}${mixed ? ' (mixed precision)' : ''}, ${models.paramBytes(model, [1, 1, 28, 28])} parameter bytes`);
// Pixels are normalised with MNIST's mean and standard deviation, as torchvision's examples do.
const normalise = (x: NDArray) => io.normalize(x, [0.1307], [0.3081]);

type TrainState = { params: any; state: any; optState: any; step: NDArray; lossScale?: optim.LossScaleState };
/** Across processes: the mean of every process's value (gradients, loss) or the sum (counts). */
const across = <T>(v: T, how: 'mean' | 'sum'): T =>
  procs === 1 ? v : how === 'mean' ? lax.pmean(v, 'procs') : lax.psum(v, 'procs');
const trainStep = (s: TrainState, x: NDArray, y: NDArray) => {
  const loss = (params: unknown) => {
    const { y: logits, state } = model.apply(params, s.state, normalise(x), { training: true });
    const l = nn.softmaxCrossEntropy(logits, y);
    return [lossScale ? lossScale.scale(s.lossScale!, l) : l, { state, logits, l }] as const;
  };
  const [[, { state, logits, l }], scaled] = valueAndGrad(loss, { hasAux: true })(s.params);
  const grads = across(lossScale ? lossScale.unscale(s.lossScale!, scaled) : scaled, 'mean');
  const { updates, state: optState } = opt.update(grads, s.optState, s.params);
  const correct = np.sum(np.equal(np.argmax(logits, { axis: -1 }), y).astype('int32'));
  let next: TrainState = { params: optim.applyUpdates(s.params, updates), state, optState, step: np.add(s.step, 1) };
  if (lossScale) {
    // A step whose gradients overflowed float16 is skipped, and the scale shrinks.
    const finite = optim.allFinite(grads);
    const { lossScale: old, ...rest } = s;
    next = { ...optim.selectTree(finite, next, rest), lossScale: lossScale.adjust(old!, finite) };
  }
  return { next, l: across(l, 'mean'), correct: across(correct, 'sum') };
};
// One process: a jitted step (the old training state is dropped every step: on WebGPU its buffers
// become the new state's). Several: pmap over this process's one device, the batch axis named so
// the collectives above reduce over every process.
const pmapped = pmap(trainStep, { axisName: 'procs', inAxes: [null, 0, 0], outAxes: null });
const step =
  procs === 1
    ? jit(trainStep, { donateArgnums: [0] })
    : (s: TrainState, x: NDArray, y: NDArray) =>
        pmapped(s, np.expandDims(x, 0), np.expandDims(y, 0)) as ReturnType<typeof trainStep>;
const predict = jit((params: unknown, state: unknown, x: NDArray) =>
  np.argmax(model.apply(params, state, normalise(x)).y, { axis: -1 }),
);

// A checkpoint holds the whole training state; its metadata the epoch and the curves so far.
mkdirSync(args.out, { recursive: true });
const checkpoint = join(args.out, 'lenet5-mnist.safetensors');
const curvesFile = join(args.out, 'lenet5-mnist.svg');
const init = model.init(random.key(0), [batchSize, 1, 28, 28]);
let s: TrainState = {
  params: init.params,
  state: init.state,
  optState: opt.init(init.params),
  step: np.array(0, { dtype: 'int32' }),
  ...(lossScale ? { lossScale: lossScale.init() } : {}),
};
let history = { loss: [] as [number, number][], trainAcc: [] as [number, number][], testAcc: [] as [number, number][] };
let firstEpoch = 0;
if (args.resume && existsSync(checkpoint)) {
  const loaded = await io.loadFile(checkpoint);
  s = io.restore(s, loaded.params);
  firstEpoch = Number(loaded.metadata.epoch);
  history = JSON.parse(loaded.metadata.history);
  log(`resumed from ${checkpoint} at epoch ${firstEpoch} (step ${s.step.item()})`);
} else if (args.resume) log(`no checkpoint at ${checkpoint}; starting afresh`);
s = await place(s);

async function testAccuracy(): Promise<number> {
  let correct = 0;
  for (const b of io.batches(test, { batchSize: 1000 })) {
    const pred = await toDevice(predict(s.params, s.state, await place(b.images)), 'cpu');
    correct += np.sum(np.equal(pred, b.labels).astype('int32')).item();
  }
  return (100 * correct) / test.images.shape[0];
}

const bar = new cliProgress.SingleBar(
  {
    format: 'epoch {epoch} [{bar}] {value}/{total} | loss {loss} | acc {acc}% | {rate} img/s | ETA {eta_formatted}',
    barsize: 24,
    etaBuffer: 100,
    fps: 5,
    noTTYOutput: true,
    notTTYSchedule: 1000,
  },
  cliProgress.Presets.shades_classic,
);
const epochTimes: number[] = [];
let lastYield = 0;
let accuracy = NaN;
for (let epoch = firstEpoch; epoch < epochs; epoch++) {
  const start = performance.now();
  let seen = 0,
    lossSum = 0,
    correct = 0,
    windowLoss = 0,
    windowSteps = 0;
  if (rank === 0) bar.start(stepsPerEpoch, 0, { epoch: `${epoch + 1}/${epochs}`, loss: '-', acc: '-', rate: '-' });
  // Every process sees the same global batches (same key) and takes its part of each.
  const order = { batchSize, key: random.foldIn(random.key(1), epoch), dropLast: true, shard: [rank, procs] as const };
  for await (const b of io.prefetch(io.mapBatches(io.batches(train, order), (batch) => place(batch)))) {
    const r = step(s, b.images, b.labels);
    s = r.next;
    const l = (await r.l.data())[0];
    seen += batchSize;
    lossSum += l * batchSize;
    correct += (await r.correct.data())[0];
    windowLoss += l;
    if (++windowSteps === 50) {
      history.loss.push([epoch + seen / batchSize / stepsPerEpoch, windowLoss / windowSteps]);
      windowLoss = windowSteps = 0;
    }
    const rate = seen / ((performance.now() - start) / 1000);
    // Let the progress bar's timer run (the loop itself never yields to the event loop on the CPU).
    if (performance.now() - lastYield > 200) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
    if (rank === 0)
      bar.increment(1, {
        loss: (lossSum / seen).toFixed(4),
        acc: ((100 * correct) / seen).toFixed(2),
        rate: rate.toFixed(0),
      });
  }
  if (rank === 0) bar.stop();
  epochTimes.push((performance.now() - start) / 1000);
  accuracy = await testAccuracy();
  history.trainAcc.push([epoch + 1, (100 * correct) / seen]);
  history.testAcc.push([epoch + 1, accuracy]);
  log(
    `epoch ${epoch + 1}/${epochs}: train loss ${(lossSum / seen).toFixed(4)}, test accuracy ${accuracy.toFixed(2)}% ` +
      `(${epochTimes.at(-1)!.toFixed(1)} s)`,
  );
  // Process 0 writes the checkpoint (saveFile does so in a job) and the curves: every process holds
  // the same parameters.
  await io.saveFile(checkpoint, await placeOn(s, 'cpu'), {
    metadata: { model: 'lenet5', epoch: String(epoch + 1), history: JSON.stringify(history) },
  });
  if (rank !== 0) continue;
  writeFileSync(
    curvesFile,
    chart([
      {
        title: 'training loss',
        xLabel: 'epoch',
        series: [{ label: 'loss (50-step mean)', points: history.loss, color: '#1f77b4' }],
      },
      {
        title: 'accuracy (%)',
        xLabel: 'epoch',
        series: [
          { label: 'train', points: history.trainAcc, color: '#ff7f0e' },
          { label: 'test', points: history.testAcc, color: '#2ca02c' },
        ],
      },
    ]),
  );
}
if (firstEpoch >= epochs) accuracy = await testAccuracy();
const perEpoch = epochTimes.length ? (epochTimes.reduce((a, b) => a + b) / epochTimes.length).toFixed(1) : '-';
log(`test accuracy: ${accuracy.toFixed(2)}% after ${seconds()} s (${perEpoch} s per epoch on ${backend})`);
log(`checkpoint: ${checkpoint}; curves: ${curvesFile}`);
process.exit(0);
