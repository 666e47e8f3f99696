// Type tests, checked by `tsc` in `npm test` (never run): transforms carry the user's types, so
// mistakes that used to compile now fail. Each @ts-expect-error line must stay an error.
import { type Array, type NDArray, grad, jit, jvp, np, valueAndGrad, vjp, vmap } from '../src/index.js';

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
