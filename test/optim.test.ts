// Optimizer trajectories against PyTorch (optim.json), and the optimizer laws over one table.
import { describe, expect, it } from 'vitest';
import { type Array, makeGraph, np, optim } from '../src/index.js';
import { assertClose } from '../laws/index.js';
import { chainIdentity, chainAssociative, descendsOnQuadratic } from '../laws/optim.js';
import { loadGolden, toArray } from './golden.js';

const fromTorch = (c: any): optim.GradientTransformation => {
  const h = c.hyperparams;
  switch (c.optimizer) {
    case 'SGD':
      return optim.sgd(h.lr, { momentum: h.momentum, nesterov: h.nesterov, weightDecay: h.weight_decay });
    case 'Adam':
      return optim.adam(h.lr, { b1: h.betas[0], b2: h.betas[1], eps: h.eps, weightDecay: h.weight_decay });
    case 'AdamW':
      return optim.adamw(h.lr, { b1: h.betas[0], b2: h.betas[1], eps: h.eps, weightDecay: h.weight_decay });
    case 'RMSprop':
      return optim.rmsprop(h.lr, {
        alpha: h.alpha,
        eps: h.eps,
        momentum: h.momentum,
        centered: h.centered,
        weightDecay: h.weight_decay,
      });
    case 'Adagrad':
      return optim.adagrad(h.lr, {
        lrDecay: h.lr_decay,
        eps: h.eps,
        initialAccumulatorValue: h.initial_accumulator_value,
        weightDecay: h.weight_decay,
      });
  }
  throw new Error(`unknown optimizer ${c.optimizer}`);
};

describe('golden optimizers (PyTorch trajectories)', () => {
  for (const c of loadGolden('optim')) {
    it(c.name, () => {
      const a = toArray(c.objective.a),
        target = toArray(c.objective.c);
      const opt = fromTorch(c);
      let p: Array = toArray(c.params_init);
      let state = opt.init(p);
      for (const step of c.steps) {
        const g = np.add(np.multiply(a, np.subtract(p, target)), np.cos(p));
        assertClose(g, step.grad, { rtol: 1e-5, atol: 1e-6 }, `${c.name} step ${step.step} grad`);
        const r = opt.update(g, state, p);
        state = r.state;
        assertClose(r.updates, step.update, { rtol: 1e-3, atol: 1e-5 }, `${c.name} step ${step.step} update`);
        p = optim.applyUpdates(p, r.updates);
        assertClose(p, step.params, { rtol: 1e-5, atol: 1e-6 }, `${c.name} step ${step.step} params`);
      }
    });
  }
});

const table: [string, () => optim.GradientTransformation][] = [
  ['sgd', () => optim.sgd(0.05)],
  ['sgd momentum', () => optim.sgd(0.02, { momentum: 0.9 })],
  ['sgd nesterov wd', () => optim.sgd(0.02, { momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
  ['adam', () => optim.adam(0.05)],
  ['adamw', () => optim.adamw(0.05)],
  ['rmsprop', () => optim.rmsprop(0.01)],
  ['rmsprop centered momentum', () => optim.rmsprop(0.005, { centered: true, momentum: 0.5 })],
  ['adagrad', () => optim.adagrad(0.3)],
  ['clipped adam', () => optim.chain(optim.clipByGlobalNorm(1), optim.scaleByAdam(), optim.scaleByLearningRate(0.05))],
  ['sgd with cosine schedule', () => optim.sgd(optim.warmupCosineDecay(0, 0.05, 5, 60))],
];

describe('optimizer laws', () => {
  for (const [name, make] of table) {
    it(`${name}: descends on a random convex quadratic`, () => expect(descendsOnQuadratic(make(), 3)).toBe(true));
    it(`${name}: chain(identity, t) = t = chain(t, identity)`, () => expect(chainIdentity(make)).toBe(true));
  }
  it('chain is associative', () =>
    expect(
      chainAssociative(
        () => optim.clipByGlobalNorm(0.5),
        () => optim.scaleByAdam(),
        () => optim.scaleByLearningRate(0.1),
      ),
    ).toBe(true));
});

describe('schedules', () => {
  const at = (s: optim.Schedule, n: number) => s(np.array(n, { dtype: 'int32' })).item();
  it('piecewise, exponential, cosine and warmup follow their formulas', () => {
    expect(at(optim.piecewiseConstant(1, { 10: 0.5, 20: 0.1 }), 15)).toBeCloseTo(0.5);
    expect(at(optim.piecewiseConstant(1, { 10: 0.5, 20: 0.1 }), 25)).toBeCloseTo(0.05);
    expect(at(optim.exponentialDecay(2, 10, 0.5), 20)).toBeCloseTo(0.5);
    expect(at(optim.exponentialDecay(2, 10, 0.5, { staircase: true }), 19)).toBeCloseTo(1);
    expect(at(optim.cosineDecay(1, 100), 50)).toBeCloseTo(0.5);
    expect(at(optim.warmupCosineDecay(0, 1, 10, 110), 5)).toBeCloseTo(0.5);
    expect(at(optim.warmupCosineDecay(0, 1, 10, 110), 60)).toBeCloseTo(0.5);
  });
  it('rejects unknown options by name', () => {
    expect(() => optim.sgd(0.1, { momentun: 0.9 } as never)).toThrow(/sgd: unknown option 'momentun'/);
    expect(() => optim.adam(0.1, { b1: '0.9' } as never)).toThrow(/adam: option 'b1' must be number/);
  });
});

describe('mapElementwise (multi-tensor updates)', () => {
  // Many small leaves of two dtypes and one large one, as a model's batch-norm parameters and a weight.
  const tree = (seed: number) => ({
    bn: globalThis.Array.from({ length: 12 }, (_, i) => np.multiply(np.arange(8 + i), 0.01 * (seed + i))),
    half: [np.astype(np.arange(5), 'float64'), np.astype(np.arange(7), 'float64')],
    weight: np.reshape(np.multiply(np.arange(8192), 1e-4 * seed), [64, 128]),
  });
  const fn = (m: Array, g: Array) => [np.add(np.multiply(m, 0.9), g), np.sqrt(np.abs(np.subtract(g, m)))];

  it('gives each leaf exactly what applying the function leaf by leaf gives', () => {
    const [m, g] = [tree(1), tree(2)];
    const outs = optim.mapElementwise(fn, [m, g], 2);
    const [ms, gs] = [m, g].map((t) => [...t.bn, ...t.half, t.weight]);
    outs.forEach((out, k) => {
      const got = [...out.bn, ...out.half, out.weight] as Array[];
      got.forEach((x, i) => {
        expect(x.shape).toEqual(ms[i].shape);
        expect(x.dtype).toBe(ms[i].dtype);
        assertClose(x, fn(ms[i], gs[i])[k], { rtol: 0, atol: 0 }, `output ${k}, leaf ${i}`);
      });
    });
  });

  it('runs the optimizers own elementwise steps the same way where there are many small leaves, exactly', () => {
    // Twenty small leaves (a model's batch-norm parameters) and a large one.
    const many = (seed: number) => ({
      bn: globalThis.Array.from({ length: 20 }, (_, i) => np.multiply(np.arange(4 + i), 0.01 * (seed + i))),
      weight: np.reshape(np.multiply(np.arange(8192), 1e-4 * seed), [64, 128]),
    });
    const [p, g] = [many(1), many(2)];
    const leaves = (t: any) => [...t.bn, t.weight] as Array[];
    const sgd = optim.sgd(0.1, { momentum: 0.9, nesterov: true });
    const step = (p: any, g: any) =>
      optim.applyUpdates(p, sgd.update(g, sgd.update(g, sgd.init(p), p).state, p).updates);
    leaves(step(p, g)).forEach((x, i) => {
      const [pi, gi] = [leaves(p)[i], leaves(g)[i]];
      const trace = np.add(np.multiply(gi, 0.9), gi); // the second step's momentum
      const want = np.astype(np.add(pi, np.multiply(np.add(gi, np.multiply(trace, 0.9)), -0.1)), pi.dtype);
      expect(x.shape).toEqual(pi.shape);
      assertClose(x, want, { rtol: 0, atol: 0 }, `leaf ${i}`);
    });
    // One sum of parameters and updates for the small leaves, one for the large (21 leaf by leaf).
    const sums = makeGraph(optim.applyUpdates)(p, g).eqns.filter((e) => e.prim.name === 'add');
    expect(sums).toHaveLength(2);
    // Leaves that are not arrays (numbers) go alone, as tree.map takes them.
    const scaled = optim.scale(2).update({ ...g, n: 3 }, {}).updates;
    expect(Number(scaled.n)).toBe(6);
    leaves(scaled).forEach((x, i) => assertClose(x, np.multiply(leaves(g)[i], 2), { rtol: 0, atol: 0 }));
    // With a few small leaves, each keeps its own (WebGPU fuses it into its gradient's kernel).
    const few = { bn: p.bn.slice(0, 3), weight: p.weight };
    expect(makeGraph(optim.applyUpdates)(few, few).eqns.filter((e) => e.prim.name === 'add')).toHaveLength(4);
  });

  it('refuses trees that do not match, naming the tree and the leaf', () => {
    expect(() => optim.mapElementwise(fn, [tree(1), { ...tree(2), extra: np.ones([3]) }], 2)).toThrow(
      /mapElementwise: tree 1 has 16 leaves, tree 0 has 15/,
    );
    expect(() => optim.mapElementwise(fn, [tree(1), { ...tree(2), weight: np.ones([3]) }], 2)).toThrow(
      /mapElementwise: tree 1 leaf 14 has 3 elements, tree 0's has 8192/,
    );
    const { half, ...rest } = tree(2);
    expect(() => optim.mapElementwise(fn, [tree(1), { ...rest, other: half }], 2)).toThrow(
      /mapElementwise: tree 1 is not of tree 0's structure \(both have 15 leaves\)/,
    );
    // The optimizers' own elementwise steps group the same way, and name themselves.
    expect(() => optim.applyUpdates(tree(1), { ...rest, other: half })).toThrow(/^applyUpdates: tree 1 is not/);
  });

  it('traces one chain per dtype for the small leaves, one per large leaf', () => {
    const g = makeGraph((m: any, x: any) => optim.mapElementwise(fn, [m, x], 2))(tree(1), tree(2));
    expect(g.eqns.filter((e) => e.prim.name === 'sqrt')).toHaveLength(3); // float32, float64, the weight
    const adam = optim.adam(1e-3);
    const update = makeGraph((p: any, s: any) => adam.update(p, s, p).updates)(tree(1), adam.init(tree(1)));
    expect(update.eqns.filter((e) => e.prim.name === 'sqrt' && e.outs[0].aval.shape.length > 0)).toHaveLength(3);
  });
});
