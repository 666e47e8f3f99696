// Models exported by PyTorch's torch.onnx.export (made by scripts/pytorch-rnn-fixture.py with Debian's
// python3-torch; the files are committed, so the test needs no PyTorch): each imports, gives
// PyTorch's outputs, and differentiates: grad of a loss through it matches finite differences.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { type Array, grad, jit, np, onnx } from '../src/index.js';
import { assertClose, gradMatchesFiniteDifferences, rng } from '../laws/index.js';

const fixture = (name: string) => ({
  model: onnx.load(readFileSync(new URL(`./fixtures/${name}.onnx`, import.meta.url))),
  data: JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as {
    x: unknown;
    y: unknown;
  },
});

const models: [string, string, boolean][] = [
  ['lstm-gru', 'a 2-layer bidirectional LSTM and a GRU classifier (batch first)', true],
  ['gru-lm', 'a GRU language model over token ids', false],
  ['upsample', 'convolutions with nn.Upsample (bilinear) and F.interpolate (nearest)', true],
  ['transformer', 'a 2-layer nn.TransformerEncoder', true],
];

describe('models exported by PyTorch', () => {
  for (const [name, what, floatInput] of models)
    it(`${name}: ${what} imports, gives PyTorch's outputs and differentiates`, () => {
      const { model: m, data } = fixture(name);
      const x = floatInput ? np.array(data.x as number[]) : np.array(data.x as number[], { dtype: 'int32' });
      const want = np.array(data.y as number[]);
      const y = m.fn(m.params, x)[0];
      expect(y.shape).toEqual(want.shape);
      assertClose(y, want, { rtol: 1e-4, atol: 1e-5 });
      assertClose(jit((p: typeof m.params, v: Array) => m.fn(p, v)[0])(m.params, x), want, { rtol: 1e-4, atol: 1e-5 });
      // grad through the whole model: by the input where it is float, by the first weight otherwise.
      const weightName = Object.keys(m.params).find((k) => (m.params as Record<string, Array>)[k].ndim >= 2)!;
      const weight = (m.params as Record<string, Array>)[weightName];
      const lossOf = (v: Array) =>
        floatInput
          ? np.mean(np.square(m.fn(m.params, v)[0]))
          : np.mean(np.square(m.fn({ ...m.params, [weightName]: v }, x)[0]));
      const at = floatInput ? x : weight;
      expect(gradMatchesFiniteDifferences((v) => [lossOf(v)], [at], [0], rng(11))).toBe(true);
      expect(np.all(np.isfinite(grad(lossOf)(at))).item()).toBe(1);
    });
});
