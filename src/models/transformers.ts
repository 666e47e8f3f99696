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
import * as random from '../random.js';
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

/** Options of {@link vitB16} and {@link visionTransformer} (torchvision's `VisionTransformer` arguments). @category Models */
export interface VitConfig {
  imageSize?: number;
  patchSize?: number;
  numLayers?: number;
  numHeads?: number;
  hiddenDim?: number;
  mlpDim?: number;
  numClasses?: number;
}

/**
 * The Vision Transformer (Dosovitskiy et al. 2021) with torchvision's `VisionTransformer` names
 * (`class_token`, `conv_proj`, `encoder.pos_embedding`, `encoder.layers.encoder_layer_N.self_attention`
 * with `nn.MultiheadAttention`'s names, `mlp.0`/`mlp.3`, `encoder.ln`, `heads.head`) and its
 * initialisation choices where they matter for loading (LayerNorm eps 1e-6, exact GELU). Input
 * `[N, 3, imageSize, imageSize]`, output logits `[N, numClasses]`.
 * @example models.visionTransformer({ imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 4, hiddenDim: 64, mlpDim: 128, numClasses: 10 })
 * @category Models
 */
export function visionTransformer(config: VitConfig = {}): Layer {
  const c = checkOptions(
    'visionTransformer',
    {
      imageSize: t.number,
      patchSize: t.number,
      numLayers: t.number,
      numHeads: t.number,
      hiddenDim: t.number,
      mlpDim: t.number,
      numClasses: t.number,
    },
    config,
  );
  const [image, patch, depth, heads, d, mlpDim, classes] = [
    c.imageSize ?? 224,
    c.patchSize ?? 16,
    c.numLayers ?? 12,
    c.numHeads ?? 12,
    c.hiddenDim ?? 768,
    c.mlpDim ?? 3072,
    c.numClasses ?? 1000,
  ];
  if (image % patch !== 0)
    throw new ValueError(`visionTransformer: imageSize ${image} is not a multiple of patchSize ${patch}`);
  const tokens = (image / patch) ** 2 + 1;
  const layer = () =>
    nn.module(
      'encoder_layer',
      {
        ln_1: nn.layerNorm({ eps: 1e-6 }),
        self_attention: nn.multiHeadAttention(d, heads),
        ln_2: nn.layerNorm({ eps: 1e-6 }),
        mlp: nn.serial(nn.dense(mlpDim), nn.gelu, nn.identity, nn.dense(d)),
      },
      (m, x: Array) => {
        const h = np.add(x, m.self_attention(m.ln_1(x)));
        return np.add(h, m.mlp(m.ln_2(h)));
      },
    );
  const stack = nn.serial(
    Object.fromEntries(globalThis.Array.from({ length: depth }, (_, i) => [`encoder_layer_${i}`, layer()])),
  );
  const convProj = nn.conv2d(d, patch, { stride: patch });
  const ln = nn.layerNorm({ eps: 1e-6 });
  const head = nn.dense(classes, { init: nn.init.zeros, biasInit: nn.init.zeros });
  return {
    name: 'visionTransformer',
    layers: [convProj, stack, ln, head],
    inputShape: [1, 3, image, image],
    init(key, inShape) {
      const [k1, k2, k3, k4] = globalThis.Array.from({ length: 4 }, (_, i) => np.slice(random.split(key, 4), i));
      const n = inShape[0];
      const conv = convProj.init(k1, inShape);
      const enc = stack.init(k2, [n, tokens, d]);
      return {
        params: {
          class_token: np.zeros([1, 1, d]),
          conv_proj: conv.params,
          encoder: {
            pos_embedding: nn.init.normal(0.02)(k3, [1, tokens, d]),
            layers: enc.params,
            ln: ln.init(k4, [n, tokens, d]).params,
          },
          heads: { head: head.init(k4, [n, d]).params },
        },
        state: {},
        outShape: [n, classes],
      };
    },
    apply(p, state, x) {
      const n = x.shape[0];
      const patches = convProj.apply(p.conv_proj, {}, x).y; // [N, D, h, w]
      const seq = np.transpose(np.reshape(patches, [n, d, tokens - 1]), [0, 2, 1]);
      const cls = np.broadcastTo(p.class_token, [n, 1, d]);
      const h0 = np.add(np.concatenate([cls, seq], { axis: 1 }), p.encoder.pos_embedding);
      const h = ln.apply(p.encoder.ln, {}, stack.apply(p.encoder.layers, {}, h0).y).y;
      const first = np.reshape(np.slice(h, null, [0, 1]), [n, d]);
      return { y: head.apply(p.heads.head, {}, first).y, state };
    },
  };
}

/** ViT-B/16 as torchvision's `vit_b_16` (86.6M parameters). @category Models */
export const vitB16 = (opts: { numClasses?: number } = {}): Layer => visionTransformer({ numClasses: opts.numClasses });
/** ViT-B/32 as torchvision's `vit_b_32`. @category Models */
export const vitB32 = (opts: { numClasses?: number } = {}): Layer =>
  visionTransformer({ patchSize: 32, numClasses: opts.numClasses });
