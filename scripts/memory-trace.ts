// A long WebGPU training loop, reporting memory as it goes: `npm run memory-trace -- --steps 2000`.
// An MLP (about 0.3 MB of parameters) trained with Adam, one jitted step per batch, nothing disposed
// by hand: temporaries go back when collected, the buffer pool stays bounded. With --donate the
// step donates its parameters and optimizer state, so their buffers are reused at once.
import { parseArgs } from 'node:util';
import {
  type Array,
  initWebGPU,
  jit,
  memoryStats,
  nn,
  np,
  optim,
  random,
  toDevice,
  tree,
  valueAndGrad,
  webgpuPoolStats,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '2000' },
    every: { type: 'string', default: '200' },
    donate: { type: 'boolean' },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);
const dev = await initWebGPU();
if (!dev) throw new Error('memory-trace: no WebGPU adapter');
console.log(`adapter: ${dev.adapterInfo}`);

const model = nn.serial(nn.dense(256), nn.relu, nn.dense(128), nn.relu, nn.dense(10));
const init = model.init(random.key(0), [64, 128]);
const opt = optim.adam(1e-3);
const up = (t: unknown) => Promise.all(tree.leaves(t).map((x) => toDevice(x, 'webgpu')));
const loss = (p: unknown, x: Array, y: Array) =>
  nn.functional.softmaxCrossEntropy(model.apply(p as never, {}, x).y as Array, y);
const step = jit(
  (p: unknown, s: unknown, x: Array, y: Array) => {
    const [l, g] = valueAndGrad(loss)(p, x, y);
    const { updates, state } = opt.update(g, s as optim.ChainState, p);
    return { params: optim.applyUpdates(p, updates), state, loss: l };
  },
  values.donate ? { donateArgnums: [0, 1] } : {},
);
const onDevice = async <T>(t: T): Promise<T> => tree.unflatten(tree.flatten(t)[1], await up(t)) as T;
let params = await onDevice(init.params);
let state = await onDevice(opt.init(init.params));
const x = await toDevice(random.normal(random.key(1), [64, 128]), 'webgpu');
const y = await toDevice(
  np.array(
    globalThis.Array.from({ length: 64 }, (_, i) => i % 10),
    { dtype: 'int32' },
  ),
  'webgpu',
);
const paramBytes = tree.leaves(init.params).reduce((n: number, p: Array) => n + p.size * 4, 0);
console.log(`parameters: ${(paramBytes / 1e6).toFixed(2)} MB; steps: ${steps}; donate: ${values.donate ?? false}\n`);
console.log('| step | loss | live buffers | live MB | pooled MB | RSS MB |');
console.log('|---:|---:|---:|---:|---:|---:|');
const mb = (b: number) => (b / 2 ** 20).toFixed(1);
for (let i = 1; i <= steps; i++) {
  const out = step(params, state, x, y);
  params = out.params;
  state = out.state;
  if (i % every === 0 || i === 1) {
    const l = (await out.loss.data())[0];
    const m = memoryStats().webgpu;
    const rss = process.memoryUsage().rss;
    console.log(
      `| ${i} | ${l.toFixed(4)} | ${m.buffers} | ${mb(m.bytes)} | ${mb(webgpuPoolStats().bytes)} | ${mb(rss)} |`,
    );
  }
}
process.exit(0);
