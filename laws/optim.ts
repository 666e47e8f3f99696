/**
 * Laws of gradient transformations: chain's identity and associativity, and descent on a
 * random convex quadratic.
 * @module
 */
import { type Array as FArray, np, optim, random, tree } from '../src/index.js';
type Array = FArray;
import { LawError, assertClose } from './laws.js';

/** Runs `steps` updates of `t` on fixed gradients and returns the update sequence. */
function run(t: optim.GradientTransformation, steps = 3): Array[] {
  const params = { w: np.array([0.5, -1, 2]), b: np.array(0.3) };
  let s = t.init(params);
  const out: Array[] = [];
  for (let i = 0; i < steps; i++) {
    const grads = { w: np.array([0.1 * (i + 1), -0.2, 0.3]), b: np.array(-0.4 + 0.1 * i) };
    const r = t.update(grads, s, params);
    s = r.state;
    out.push(...tree.leaves<Array>(r.updates));
  }
  return out;
}
const same = (a: Array[], b: Array[], what: string) =>
  a.forEach((x, i) => assertClose(x, b[i], { rtol: 1e-6, atol: 1e-7 }, `${what} update ${i}`));

/** `chain(identity, t)` and `chain(t, identity)` behave as `t`. */
export function chainIdentity(make: () => optim.GradientTransformation): true {
  const base = run(make());
  same(run(optim.chain(optim.identity(), make())), base, 'chain(identity, t)');
  same(run(optim.chain(make(), optim.identity())), base, 'chain(t, identity)');
  return true;
}

/** `chain(chain(a, b), c) = chain(a, chain(b, c))`. */
export function chainAssociative(
  a: () => optim.GradientTransformation,
  b: () => optim.GradientTransformation,
  c: () => optim.GradientTransformation,
): true {
  same(run(optim.chain(optim.chain(a(), b()), c())), run(optim.chain(a(), optim.chain(b(), c()))), 'associativity');
  return true;
}

/** On `f(x) = 0.5 x^T A x - b^T x` with random SPD A, 60 steps reduce f substantially. */
export function descendsOnQuadratic(t: optim.GradientTransformation, seed: number, steps = 60): true {
  const [k1, k2] = random.split(random.key(seed));
  const m = random.normal(k1, [4, 4]);
  const a = np.add(np.matmul(m, np.transpose(m)), np.multiply(np.eye(4), 0.5));
  const b = random.normal(k2, [4]);
  const f = (x: Array) => np.subtract(np.multiply(np.dot(x, np.matmul(a, x)), 0.5), np.dot(b, x)).item();
  let x: Array = np.zeros([4]);
  let s = t.init(x);
  const f0 = f(x);
  for (let i = 0; i < steps; i++) {
    const g = np.subtract(np.matmul(a, x), b);
    const r = t.update(g, s, x);
    s = r.state;
    x = optim.applyUpdates(x, r.updates);
  }
  const fStar = -0.5 * solve(a, b).reduce((acc, v, i) => acc + v * (b.dataSync()[i] as number), 0);
  const f1 = f(x);
  if (!(f1 < f0 - 0.5 * (f0 - fStar))) throw new LawError(`no descent: f went from ${f0} to ${f1} (optimum ${fStar})`);
  return true;
}

/** Solves A x = b by Gaussian elimination (small dense systems, float64). */
function solve(a: Array, b: Array): number[] {
  const n = b.size;
  const m = globalThis.Array.from({ length: n }, (_, i) => [
    ...globalThis.Array.from(a.dataSync().subarray(i * n, (i + 1) * n)),
    b.dataSync()[i] as number,
  ]);
  for (let c = 0; c < n; c++) {
    const piv = m.reduce((best, row, r) => (r >= c && Math.abs(row[c]) > Math.abs(m[best][c]) ? r : best), c);
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}
