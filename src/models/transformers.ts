/**
 * Transformers with their reference implementations' parameter names: GPT-2 as Hugging Face's
 * `GPT2LMHeadModel` (`transformer.h.0.attn.c_attn.weight`, ...), so its checkpoints load as they are.
 * @module
 */
import { type Array, ShapeDtype } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import { checkOptions, t } from '../core/options.js';
import * as np from '../np/index.js';
import * as nn from '../nn/index.js';
import type { InitExample, Layer } from '../nn/index.js';
import type { Key } from '../random.js';

/** GPT-2's configuration, in Hugging Face's names' order (defaults: the 124M model). @category Models */
export interface Gpt2Config {
  vocabSize?: number;
  nPositions?: number;
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  layerNormEps?: number;
}

/** Hugging Face's `Conv1D`: a dense layer whose weight is stored `[in, out]` and applied as `x W + b`. */
const hfConv1D = (outFeatures: number): Layer<{ weight: Array; bias: Array }, {}> => ({
  name: 'Conv1D',
  init: (key, inShape) => ({
    params: {
      weight: nn.init.normal(0.02)(key, [inShape[inShape.length - 1], outFeatures]),
      bias: np.zeros([outFeatures]),
    },
    state: {},
    outShape: [...inShape.slice(0, -1), outFeatures],
  }),
  apply: (p, state, x) => ({ y: np.add(np.matmul(x, p.weight), p.bias), state }),
});

/**
 * GPT-2 (Radford et al. 2019) with Hugging Face's `GPT2LMHeadModel` names: token ids `[B, T]` (int32)
 * to logits `[B, T, vocabSize]`. Pre-norm blocks of causal self-attention and a tanh-GELU MLP; the
 * output projection is tied to `transformer.wte.weight`, so a checkpoint's `lm_head.weight` (the same
 * tensor) is not a parameter of its own (`tiedWeights` says so to `fromStateDict`).
 * @example const gpt = models.gpt2({ vocabSize: 96, nPositions: 64, nEmbd: 64, nLayer: 2, nHead: 4 });
 * @category Models
 */
export function gpt2(config: Gpt2Config = {}): Layer {
  const c = checkOptions(
    'gpt2',
    {
      vocabSize: t.number,
      nPositions: t.number,
      nEmbd: t.number,
      nLayer: t.number,
      nHead: t.number,
      layerNormEps: t.number,
    },
    config,
  );
  const [vocab, positions, d, layers, heads] = [
    c.vocabSize ?? 50257,
    c.nPositions ?? 1024,
    c.nEmbd ?? 768,
    c.nLayer ?? 12,
    c.nHead ?? 12,
  ];
  if (d % heads !== 0) throw new ValueError(`gpt2: nEmbd ${d} must be divisible by nHead ${heads}`);
  const eps = c.layerNormEps ?? 1e-5;
  const attn = nn.module('attn', { c_attn: hfConv1D(3 * d), c_proj: hfConv1D(d) }, (m, x: Array) => {
    const [b, steps] = x.shape;
    const [q, k, v] = np.split(m.c_attn(x), 3, { axis: -1 }).map((a) => np.reshape(a, [b, steps, heads, d / heads]));
    return m.c_proj(np.reshape(nn.functional.dotProductAttention(q, k, v, { isCausal: true }), [b, steps, d]));
  });
  const mlp = nn.module('mlp', { c_fc: hfConv1D(4 * d), c_proj: hfConv1D(d) }, (m, x: Array) =>
    m.c_proj(nn.functional.gelu(m.c_fc(x), { approximate: 'tanh' })),
  );
  const block = () =>
    nn.module('block', { ln_1: nn.layerNorm({ eps }), attn, ln_2: nn.layerNorm({ eps }), mlp }, (m, x: Array) => {
      const h = np.add(x, m.attn(m.ln_1(x)));
      return np.add(h, m.mlp(m.ln_2(h)));
    });
  const body = nn.module(
    'transformer',
    {
      wte: nn.embedding(vocab, d, { init: nn.init.normal(0.02) }),
      wpe: nn.positionalEmbedding(positions),
      h: nn.serial(...globalThis.Array.from({ length: layers }, block)),
      ln_f: nn.layerNorm({ eps }),
    },
    (m, ids: Array) => m.ln_f(m.h(m.wpe(m.wte(ids)))),
  );
  const asIds = (input: readonly number[] | InitExample) =>
    globalThis.Array.isArray(input) && input.every((v) => typeof v === 'number')
      ? new ShapeDtype(input as number[], 'int32')
      : (input as InitExample);
  return {
    name: 'gpt2',
    layers: [body],
    inputShape: [1, Math.min(8, positions)],
    tiedWeights: { 'lm_head.weight': 'transformer.wte.weight' },
    init(key: Key, input: readonly number[]) {
      const r = body.init(key, asIds(input));
      return {
        params: { transformer: r.params },
        state: { transformer: r.state },
        outShape: [...r.outShape.slice(0, -1), vocab],
      };
    },
    apply(p, state, ids, opts) {
      const r = body.apply(p.transformer, state.transformer, ids, opts);
      return { y: np.matmul(r.y, np.transpose(p.transformer.wte.weight)), state: { transformer: r.state } };
    },
  };
}
