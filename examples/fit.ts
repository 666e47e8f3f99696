// Fit a small MLP to sin(x) with gradient descent, printing the loss. Run: npx tsx examples/fit.ts
import { type Array, jit, nn, np, optim, random, valueAndGrad } from '../src/index.js';

const model = nn.serial(nn.dense(32), nn.tanh, nn.dense(1));
const xs = np.reshape(np.linspace(-3, 3, 128), [128, 1]);
const ys = np.sin(xs);
const { params: p0 } = model.init(random.key(0), [128, 1]);
const opt = optim.adam(0.02);

const step = jit((params: unknown, state: optim.ChainState) => {
  const [loss, grads] = valueAndGrad((p: unknown) => nn.mse(model.apply(p, {}, xs).y as Array, ys))(params);
  const { updates, state: s } = opt.update(grads, state, params);
  return { params: optim.applyUpdates(params, updates), state: s, loss };
});

let params = p0,
  state = opt.init(p0);
for (let i = 1; i <= 300; i++) {
  const r = step(params, state);
  ({ params, state } = r);
  if (i % 50 === 0) console.log(`step ${i}: mse ${r.loss.item().toFixed(5)}`);
}
