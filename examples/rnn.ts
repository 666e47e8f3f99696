// Backpropagation through time: an LSTM learns to output the running sum of its inputs.
// The recurrent layer runs its cell with lax.scan, so grad differentiates through every step.
// Run: npx tsx examples/rnn.ts
import { type Array, jit, nn, np, optim, random, valueAndGrad } from '../src/index.js';

const [T, N] = [10, 32];
const model = nn.serial({ rnn: nn.rnn(nn.lstmCell(16), { batchFirst: true }), head: nn.dense(1) });
const { params: p0, state: s0 } = model.init(random.key(0), [N, T, 1]);
const opt = optim.adam(0.01);

const batch = (k: number) => {
  const x = random.uniform(random.key(k), [N, T, 1], { minval: -1, maxval: 1 });
  const y = np.cumsum(x, { axis: 1 });
  return { x, y };
};
const step = jit((params: typeof p0, state: optim.ChainState, x: Array, y: Array) => {
  const [loss, grads] = valueAndGrad((p: typeof p0) => nn.mse(model.apply(p, s0, x).y as Array, y))(params);
  const { updates, state: s } = opt.update(grads, state, params);
  return { params: optim.applyUpdates(params, updates), state: s, loss };
});

let params = p0,
  state = opt.init(p0);
for (let i = 1; i <= 150; i++) {
  const { x, y } = batch(i);
  const r = step(params, state, x, y);
  ({ params, state } = r);
  if (i % 25 === 0) console.log(`step ${i}: mse ${r.loss.item().toFixed(4)}`);
}
