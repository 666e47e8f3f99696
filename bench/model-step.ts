// One torchvision model's Adam training step in Fluxion (jit on ONNX Runtime), in a process of its own
// so that its peak memory is its own: model.init, the first call (trace, lowering, compilation and one
// run), the steady step (median of 6), peak RSS and, after that, the Adam update alone, as one JSON
// line. The step donates its state (each step's outputs are written into the memory of the state
// before last). bench/cpu.ts runs it beside bench/pytorch.py's same model.
// Run: tsx bench/model-step.ts resnet18 8 64 [flatten]
import type { Array } from '../src/index.js';

// FLUXION_ENTRY names the library to load (bench/cpu.ts passes the built package); else the sources.
const fluxion: typeof import('../src/index.js') = await import(process.env.FLUXION_ENTRY ?? '../src/index.js');
const { jit, models, nn, np, optim, random, tree, valueAndGrad } = fluxion;

// A fifth argument `flatten` runs the step with optim.flatten(optim.adam(...)).
const [name, batch, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const flat = process.argv[5] === 'flatten';
type Model = ReturnType<typeof models.resnet18>;
const build = (models as unknown as Record<string, (o: { numClasses: number }) => Model>)[name];
if (!build) throw new Error(`model-step: unknown model ${name}`);
const t0 = performance.now();
const model = build({ numClasses: 10 });
const init = model.init(random.key(0), [batch, 3, size, size]);
const initMs = performance.now() - t0;

const adam = flat ? optim.flatten(optim.adam(1e-3)) : optim.adam(1e-3);
const x = random.normal(random.key(1), [batch, 3, size, size]);
const y = np.remainder(np.arange(batch), 10).astype('int32');
const step = jit(
  (params: unknown, state: unknown, opt: ReturnType<typeof adam.init>, x: Array, y: Array) => {
    const [[loss, newState], grads] = valueAndGrad(
      (p: unknown) => {
        const r = model.apply(p, state, x, { training: true });
        return [nn.softmaxCrossEntropy(r.y, y), r.state] as const;
      },
      { hasAux: true },
    )(params);
    const { updates, state: newOpt } = adam.update(grads, opt, params);
    return { params: optim.applyUpdates(params, updates), state: newState, opt: newOpt, loss };
  },
  { donateArgnums: [0, 1, 2] },
); // the old state is dropped every step, as PyTorch updates in place

let params = init.params,
  state = init.state,
  opt = adam.init(params);
const call = () => {
  const r = step(params, state, opt, x, y);
  r.loss.item();
  ({ params, state, opt } = r);
};
const t1 = performance.now();
call();
const first = performance.now() - t1;
const times: number[] = [];
for (let i = 0; i < 6; i++) {
  const t = performance.now();
  call();
  times.push(performance.now() - t);
}
const median = (ts: number[]) => ts.sort((a, b) => a - b)[ts.length >> 1];
const stepMs = median(times);
// The process's own peak: Linux's VmHWM (the maxRSS that getrusage reports starts at the parent's
// resident size when it forked us, the bench's own several hundred MB), else maxRSS.
const ownPeakKB = (): number => {
  try {
    const status = (process.getBuiltinModule('node:fs') as typeof import('node:fs')).readFileSync(
      '/proc/self/status',
      'utf8',
    );
    return Number(/VmHWM:\s+(\d+)/.exec(status)![1]);
  } catch {
    return process.resourceUsage().maxRSS;
  }
};
const peakMB = ownPeakKB() / 1024;

// The optimizer's share of the step: the same Adam update on gradients of the parameters' shapes
// (PyTorch's figure is its `optimizer.step()` alone), measured after the peak memory is read.
const grads = tree.map((p: Array) => random.normal(random.key(2), p.shape), params);
const update = jit(
  (params: unknown, opt: ReturnType<typeof adam.init>, g: unknown) => {
    const r = adam.update(g, opt, params);
    return { params: optim.applyUpdates(params, r.updates), opt: r.state };
  },
  { donateArgnums: [0, 1] },
);
const updateOnce = () => {
  ({ params, opt } = update(params, opt, grads));
  (tree.leaves(params)[0] as Array).dataSync();
};
updateOnce();
const updateTimes: number[] = [];
for (let i = 0; i < 6; i++) {
  const t = performance.now();
  updateOnce();
  updateTimes.push(performance.now() - t);
}
console.log(JSON.stringify({ init: initMs, first, step: stepMs, peakMB, adam: median(updateTimes) }));
