// Type tests, checked by `tsc` in `npm test` (never run): transforms carry the user's types, so
// mistakes that used to compile now fail. Each @ts-expect-error line must stay an error.
import {
  type Array,
  type NDArray,
  grad,
  jit,
  jvp,
  nn,
  np,
  optim,
  random,
  valueAndGrad,
  vjp,
  vmap,
} from '../src/index.js';

const params = { w: np.ones([2]), b: np.zeros([]) };
const x = np.ones([2]);
const loss = (p: typeof params, x: Array): Array => np.sum(np.add(np.multiply(p.w, x), p.b));

// grad: the gradient has the structure of the differentiated argument.
const g = grad(loss)(params, x);
export const w: Array = g.w;
// @ts-expect-error: a typo in a gradient's field
export const typo = g.wieght;
// @ts-expect-error: a parameter the tree does not have
export const missing = params.fc9;

// argnums as a list: a tuple of gradients, one per argument.
const [p0, x0] = grad(loss, { argnums: [0, 1] })(params, x);
export const gb: Array = p0.b,
  gx: Array = x0;
// @ts-expect-error: only two arguments were differentiated
export const third = grad(loss, { argnums: [0, 1] })(params, x)[2];
// argnums as a number picks that argument's type.
export const onlyX: Array = grad(loss, { argnums: 1 })(params, x);

// valueAndGrad and hasAux: the value and the aux keep their types.
const lossWithAux = (p: typeof params): [Array, { steps: number }] => [np.sum(p.w), { steps: 1 }];
const [[value, aux], gAux] = valueAndGrad(lossWithAux, { hasAux: true })(params);
export const v: Array = value,
  steps: number = aux.steps,
  gw: Array = gAux.w;
export const asNDArray: NDArray = value;
const [gOnly, auxOnly] = grad(lossWithAux, { hasAux: true })(params);
export const gw2: Array = gOnly.w,
  steps2: number = auxOnly.steps;
// @ts-expect-error: aux has no such field
export const wrongAux = auxOnly.epochs;

// jit and vmap keep the function's signature; vjp and jvp follow it.
export const jitted: (p: typeof params, x: Array) => Array = jit(loss);
export const batched: (p: typeof params, x: Array) => Array = vmap(loss, { inAxes: [null, 0] });
const [y, back] = vjp(loss, params, x);
export const yv: Array = y,
  ct: Array = back(np.ones([]))[0].w;
export const tangentOut: Array = jvp(loss, [params, x], [params, x])[1];

// Layers and optimizers: params, state and optimizer state are named types.
const layer = nn.dense(3);
const dense = layer.init(random.key(0), [2, 4]);
export const weight: Array = dense.params.weight;
// @ts-expect-error: a dense layer has no such param
export const wieght = dense.params.wieght;
const bn = nn.batchNorm().init(random.key(0), [2, 3, 4, 4]);
export const runningMean: Array = bn.state.running_mean;
// @ts-expect-error: batch norm's state uses PyTorch's names
export const camel = bn.state.runningMean;
const opt = optim.adam(1e-3);
export const optState: optim.ChainState = opt.init(dense.params);
// @ts-expect-error: an optimizer state is a chain of link states, not a record
export const mu = opt.init(dense.params).mu;

// serial over named layers infers its params' structure.
const mlp = nn.serial({ fc1: nn.dense(8), act: nn.relu, fc2: nn.dense(2) }).init(random.key(0), [1, 4]);
export const fc2: Array = mlp.params.fc2.weight;
// @ts-expect-error: no layer of that name
export const fc9 = mlp.params.fc9;

// Layers: `apply(...).y` is typed by the layer; a module's by its forward, its sub-layers by name.
const dv = layer.init(random.key(0), [2, 4]);
export const denseY: Array = layer.apply(dv.params, dv.state, x).y;
// @ts-expect-error: an Array has no field 'logits'
export const denseTypo = layer.apply(dv.params, dv.state, x).y.logits;
const stack = nn.serial(nn.dense(8), nn.relu, nn.dense(2));
export const stackY: Array = stack.apply({}, {}, x).y;
const lm = nn.module('lm', { emb: nn.embedding(10, 4), head: nn.dense(10) }, (m, ids: Array) => ({
  logits: m.head(m.emb(ids)),
}));
export const logits: Array = lm.apply({}, {}, x).y.logits;
// @ts-expect-error: a typo in the output's field
export const logitsTypo = lm.apply({}, {}, x).y.logit;
// @ts-expect-error: a sub-layer the module does not have
export const missingLayer = nn.module('bad', { emb: nn.embedding(10, 4) }, (m, ids: Array) => m.embd(ids));
