// Train LeNet-5 on MNIST with a jitted training step on the best backend present (WebGPU on a
// hardware GPU, else the CPU), printing progress and the test accuracy.
// Run: npx tsx examples/lenet-mnist.ts [--epochs 1] [--batch 64] [--limit 60000] [--test-limit 10000] [--backend cpu|webgpu]
import {
  type Array,
  devices,
  getCpuBackend,
  io,
  jit,
  models,
  nn,
  np,
  optim,
  random,
  toDevice,
  tree,
  valueAndGrad,
} from '../src/index.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const epochs = Number(arg('epochs', '1')),
  batch = Number(arg('batch', '64')),
  limit = Number(arg('limit', '60000')),
  testLimit = Number(arg('test-limit', '10000'));
// Probing for a GPU starts Dawn; skip it when the CPU is asked for explicitly.
const cpuOnly = [
  { name: 'cpu' as const, description: getCpuBackend() === 'onnx' ? 'ONNX Runtime' : 'JavaScript CPU kernels' },
];
const available = arg('backend', '') === 'cpu' ? cpuOnly : await devices();
const backend = arg('backend', available[0].name);
if (!available.some((d) => d.name === backend))
  throw new Error(`backend ${backend} is not available (have: ${available.map((d) => d.name)})`);
const place = async (t: unknown): Promise<any> => {
  const [leaves, def] = tree.flatten<Array>(t);
  return tree.unflatten(def, await Promise.all(leaves.map((l) => toDevice(l, backend as 'cpu' | 'webgpu'))));
};

const { train, test } = io.mnist({ limitTrain: limit, limitTest: testLimit });
console.log(
  `MNIST: ${train.images.shape[0]} training and ${test.images.shape[0]} test images; backend: ${backend} (${available.find((d) => d.name === backend)!.description})`,
);

const model = models.lenet5();
const init = model.init(random.key(0), [batch, 1, 28, 28]);
const opt = optim.adam(1e-3);

const loss = (params: unknown, state: unknown, x: Array, y: Array) => {
  const { y: logits, state: s } = model.apply(params, state, x, { training: true });
  return [nn.softmaxCrossEntropy(logits, y), s] as [Array, unknown];
};
const step = jit((params: unknown, state: unknown, optState: unknown, x: Array, y: Array) => {
  const [[l, s], grads] = valueAndGrad(loss, { hasAux: true })(params, state, x, y);
  const { updates, state: o } = opt.update(grads, optState, params);
  return { params: optim.applyUpdates(params, updates), state: s, optState: o, loss: l };
});
const predict = jit((params: unknown, state: unknown, x: Array) =>
  np.argmax(model.apply(params, state, x).y, { axis: -1 }),
);

let params = await place(init.params),
  state = await place(init.state),
  optState = await place(opt.init(init.params));
const n = train.images.shape[0];
const steps = Math.floor(n / batch);
const t0 = performance.now();
for (let epoch = 0; epoch < epochs; epoch++) {
  const order = random.permutation(random.foldIn(random.key(1), epoch), n);
  let running = 0;
  for (let i = 0; i < steps; i++) {
    const idx = np.slice(order, [i * batch, (i + 1) * batch]);
    const x = await place(np.take(train.images, idx, { axis: 0 })),
      y = await place(np.take(train.labels, idx, { axis: 0 }));
    const r = step(params, state, optState, x, y);
    ({ params, state, optState } = r);
    running += (await r.loss.data())[0];
    if ((i + 1) % 50 === 0 || i === steps - 1) {
      const secs = (performance.now() - t0) / 1000;
      const count = (i + 1) % 50 || 50;
      console.log(
        `epoch ${epoch + 1}/${epochs} step ${i + 1}/${steps}  loss ${(running / count).toFixed(4)}  ${(((epoch * steps + i + 1) * batch) / secs).toFixed(0)} img/s`,
      );
      running = 0;
    }
  }
}
let correct = 0;
const m = test.images.shape[0];
for (let i = 0; i < m; i += 500) {
  const end = Math.min(m, i + 500);
  const pred = await toDevice(predict(params, state, await place(np.slice(test.images, [i, end]))), 'cpu');
  correct += np.sum(np.equal(pred, np.slice(test.labels, [i, end]))).item();
}
console.log(
  `test accuracy: ${((100 * correct) / m).toFixed(2)}% (${correct}/${m}) after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
process.exit(0);
