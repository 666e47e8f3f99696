// Transforms tour: per-example gradients with vmap(grad), a hessian-vector product and makeGraph.
// Run: npx tsx examples/transforms.ts
import { type Array, grad, jit, jvp, makeGraph, np, random, vmap } from '../src/index.js';

// A linear model's squared loss for one example.
const loss = (w: Array, x: Array, y: Array) => np.square(np.subtract(np.dot(x, w), y));
const [k1, k2] = random.split(random.key(0));
const w = random.normal(k1, [3]);
const xs = random.normal(k2, [4, 3]);
const ys = np.array([1, -1, 0.5, 2]);

// Per-example gradients: vmap over the examples, not over the weights.
const perExample = jit(vmap(grad(loss), { inAxes: [null, 0, 0] }));
console.log('per-example gradients [4, 3]:');
console.log(perExample(w, xs, ys));

// Hessian-vector product without forming the Hessian: forward-over-reverse.
const total = (w: Array) => np.sum(vmap(loss, { inAxes: [null, 0, 0] })(w, xs, ys));
const hvp = (w: Array, v: Array) => jvp(grad(total), [w], [v])[1];
console.log('Hessian-vector product:', hvp(w, np.array([1, 0, 0])));

// The traced program of grad(total), as text (like jax.make_jaxpr).
console.log(makeGraph(grad(total))(w).toString());
