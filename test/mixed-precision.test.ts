// Mixed precision: layers under a dtype policy, float32 master weights, dynamic loss scaling.
import { describe, expect, it } from 'vitest';
import { DTypeError, type NDArray, jit, models, nn, np, optim, random, tree, valueAndGrad } from '../src/index.js';

const key = random.key(0);

describe('layers under a precision policy', () => {
  it("dense and conv take Flax's dtype and paramDtype", () => {
    const d = nn.dense(3, { paramDtype: 'bfloat16', dtype: 'float32' });
    const { params } = d.init(key, [2, 4]);
    expect(params.weight.dtype).toBe('bfloat16');
    expect(d.apply(params, {}, np.ones([2, 4])).y.dtype).toBe('float32');
    const c = nn.conv2d(2, 3, { dtype: 'float16' });
    const p = c.init(key, [1, 1, 5, 5]).params;
    expect(p.weight.dtype).toBe('float32');
    expect(c.apply(p, {}, np.ones([1, 1, 5, 5])).y.dtype).toBe('float16');
    expect(() => nn.dense(3, { dtype: 'int8' })).toThrow(/precision: int8 is not a float dtype/);
    expect(() => nn.precision(nn.dense(3), { dtype: 'int8' })).toThrow(DTypeError);
  });

  it('a whole model stores its parameters in half the bytes and computes in its dtype', () => {
    const full = models.paramBytes(models.lenet5());
    expect(full).toBe(61706 * 4);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const model = nn.precision(models.lenet5(), { dtype, paramDtype: dtype, outputDtype: 'float32' });
      expect(models.paramBytes(model)).toBe(full / 2);
      const { params, state } = model.init(key, [2, 1, 28, 28]);
      expect(tree.leaves(params).every((p: NDArray) => p.dtype === dtype)).toBe(true);
      const y = model.apply(params, state, random.normal(key, [2, 1, 28, 28])).y;
      expect(y.dtype).toBe('float32');
      // The same numbers as float32 computation on the rounded weights, within bfloat16's precision.
      const wide = tree.map((p: NDArray) => p.astype('float32'), params);
      const ref = models.lenet5().apply(wide, state, random.normal(key, [2, 1, 28, 28])).y;
      const err = np.max(np.abs(np.subtract(y, ref))).item();
      expect(err).toBeLessThan(dtype === 'bfloat16' ? 0.1 : 0.01);
      expect(err).toBeGreaterThan(0); // it really computed in the narrower dtype
    }
  });
});

describe('float32 master weights', () => {
  it('keeps steps that bfloat16 parameters alone would round away', () => {
    const params = { w: np.ones([4], { dtype: 'bfloat16' }) };
    const grads = { w: np.full([4], 1, { dtype: 'bfloat16' }) };
    const lr = 1e-3; // 1 - 1e-3 rounds back to 1 in bfloat16 (its spacing below 1 is 2^-8)
    const plain = optim.sgd(lr);
    let p = params,
      s = plain.init(p);
    for (let i = 0; i < 20; i++) {
      const r = plain.update(grads, s, p);
      p = optim.applyUpdates(p, r.updates);
      s = r.state;
    }
    expect(p.w.toArray()).toEqual([1, 1, 1, 1]);
    const mixed = optim.mixedPrecision(optim.sgd(lr));
    const state = mixed.init(params);
    let q = params,
      m = state;
    expect(m.master.w.dtype).toBe('float32');
    const step = jit((q: typeof params, m: typeof state) => {
      const r = mixed.update(grads, m, q);
      return { q: optim.applyUpdates(q, r.updates), m: r.state };
    });
    for (let i = 0; i < 20; i++) ({ q, m } = step(q, m));
    expect(q.w.dtype).toBe('bfloat16');
    expect(m.master.w.dataSync()[0]).toBeCloseTo(1 - 20 * lr, 6);
    expect(q.w.dataSync()[0]).toBe(np.array(1 - 20 * lr, { dtype: 'bfloat16' }).item());
  });
});

describe('dynamic loss scaling (jmp)', () => {
  it('shrinks after a non-finite step, grows after period finite ones, never below minScale', () => {
    const ls = optim.dynamicLossScale({ initial: 8, period: 3, factor: 2, minScale: 2 });
    const adjust = jit((s: optim.LossScaleState, finite: NDArray) => ls.adjust(s, finite));
    const seq: number[] = [];
    let s = ls.init();
    for (const finite of [false, false, false, true, true, true, true, false]) {
      s = adjust(s, np.array(finite));
      seq.push(s.scale.item());
    }
    expect(seq).toEqual([4, 2, 2, 2, 2, 4, 4, 2]);
    expect(s.counter.item()).toBe(0);
  });

  it('recovers float16 gradients that underflow without it, and allFinite catches overflow', () => {
    const x = np.array([1e-4, 2e-4], { dtype: 'float16' });
    const loss = (w: NDArray) => np.sum(np.multiply(np.multiply(w, x), 1e-4));
    const w = np.ones([2], { dtype: 'float16' });
    const [, raw] = valueAndGrad(loss)(w);
    expect(raw.toArray()).toEqual([0, 0]); // 1e-8 is below float16's smallest subnormal
    const ls = optim.dynamicLossScale();
    const s = ls.init();
    const [, scaled] = valueAndGrad((w: NDArray) => ls.scale(s, loss(w)))(w);
    const g = ls.unscale(s, scaled);
    expect(g.dtype).toBe('float32');
    expect(g.dataSync()[1]).toBeCloseTo(2e-8, 9);
    expect(optim.allFinite({ g }).item()).toBe(1);
    expect(optim.allFinite({ g, h: np.array([Infinity]) }).item()).toBe(0);
    const kept = optim.selectTree(np.array(false), { a: np.ones([2]) }, { a: np.zeros([2]) });
    expect(kept.a.toArray()).toEqual([0, 0]);
  });
});
