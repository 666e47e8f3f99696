/**
 * Transformers with their reference implementations' parameter names, so their checkpoints load as
 * they are: GPT-2 as Hugging Face's `GPT2LMHeadModel` (`transformer.h.0.attn.c_attn.weight`, ...) with
 * a cached decoder for generation, and the Vision Transformer as torchvision's `VisionTransformer`.
 * @module
 */
import { type Array, ShapeDtype } from '../core/array.js';
import type { DType } from '../core/dtype.js';
import * as lax from '../lax.js';
import { jit } from '../transforms/jit.js';
import { ValueError } from '../core/errors.js';
import { checkOptions, t } from '../core/options.js';
import * as np from '../np/index.js';
import * as nn from '../nn/index.js';
import type { InitExample, Layer } from '../nn/index.js';
import * as random from '../random.js';
import type { Key } from '../random.js';
import * as tree from '../tree.js';
import { GpuArray } from '../backend/index.js';

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
export function gpt2(config: Gpt2Config = {}): Layer & { decoder: Decoder } {
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
    decoder: gpt2Decoder(positions, d, layers, heads, eps),
  };
}

/** A key/value cache: per layer, keys and values of every position so far `[B, maxLength, heads, headDim]`. */
export interface KVCache {
  k: Array[];
  v: Array[];
}
/** How a model decodes one token at a time with a fixed-size cache (what {@link generator} needs). @category Models */
export interface Decoder {
  readonly maxLength: number;
  initCache(batch: number, dtype?: DType): KVCache;
  /** Logits `[B, vocab]` of the next token after `tokens [B, 1]` at `position` (an int32 scalar), and the cache with it. */
  decode(params: any, cache: KVCache, tokens: Array, position: Array): { logits: Array; cache: KVCache };
}

/** GPT-2 one token at a time: its keys and values written into the cache at `position` (dynamicUpdateSlice). */
function gpt2Decoder(positions: number, d: number, layers: number, heads: number, eps: number): Decoder {
  const hd = d / heads;
  const conv1D = (x: Array, w: { weight: Array; bias: Array }) => np.add(np.matmul(x, w.weight), w.bias);
  const norm = (x: Array, w: { weight: Array; bias: Array }) =>
    nn.functional.layerNorm(x, [d], w.weight, w.bias, { eps });
  return {
    maxLength: positions,
    initCache: (batch, dtype = 'float32') => {
      const empty = () =>
        globalThis.Array.from({ length: layers }, () => np.zeros([batch, positions, heads, hd], { dtype }));
      return { k: empty(), v: empty() };
    },
    decode(p, cache, tokens, position) {
      const t = p.transformer;
      const b = tokens.shape[0];
      let x = np.add(
        nn.functional.embedding(tokens, t.wte.weight),
        lax.dynamicSlice(t.wpe.weight, [position, 0], [1, d]),
      );
      // Positions up to this one are attended; the rest of the cache is not written yet.
      const seen = np.reshape(np.lessEqual(np.arange(positions), position), [1, 1, 1, positions]);
      const next: KVCache = { k: [], v: [] };
      for (let i = 0; i < layers; i++) {
        const block = t.h[String(i)];
        const [q, k, v] = np
          .split(conv1D(norm(x, block.ln_1), block.attn.c_attn), 3, { axis: -1 })
          .map((a) => np.reshape(a, [b, 1, heads, hd]));
        const at = [0, position, 0, 0];
        next.k.push(lax.dynamicUpdateSlice(cache.k[i], np.astype(k, cache.k[i].dtype), at));
        next.v.push(lax.dynamicUpdateSlice(cache.v[i], np.astype(v, cache.v[i].dtype), at));
        const y = nn.functional.dotProductAttention(q, next.k[i], next.v[i], { mask: seen });
        x = np.add(x, conv1D(np.reshape(y, [b, 1, d]), block.attn.c_proj));
        const hidden = nn.functional.gelu(conv1D(norm(x, block.ln_2), block.mlp.c_fc), { approximate: 'tanh' });
        x = np.add(x, conv1D(hidden, block.mlp.c_proj));
      }
      const logits = np.matmul(norm(x, t.ln_f), np.transpose(t.wte.weight));
      return { logits: np.reshape(logits, [b, logits.shape[2]]), cache: next };
    },
  };
}

/** Options of {@link generator}: how the next token is picked. @category Models */
export interface SamplingOptions {
  /** 0 picks the most likely token (greedy); otherwise logits are divided by it before sampling (default 1). */
  temperature?: number;
  /** Sample among the `topK` most likely tokens only. */
  topK?: number;
}

/**
 * Autoregressive generation with a key/value cache of fixed size: one jitted decoding step, compiled
 * once for all tokens and all calls with the same shapes (`traceCount` says how often it was traced).
 * @example
 * const g = models.generator(gpt, { temperature: 0.8, topK: 40 });
 * const ids = g.generate(params, prompt, { maxNewTokens: 100, key: random.key(0) }); // [B, P + 100]
 * @category Models
 */
export function generator(
  model: Layer & { decoder?: Decoder },
  opts: SamplingOptions = {},
): {
  generate(params: any, prompt: Array, o: { maxNewTokens: number; key?: Key }): Array;
  readonly traceCount: number;
} {
  const o = checkOptions('generator', { temperature: t.number, topK: t.number }, opts);
  const decoder = model.decoder;
  if (!decoder) throw new ValueError(`generator: ${model.name} has no decoder (models.gpt2 has one)`);
  const temperature = o.temperature ?? 1;
  const pick = (logits: Array, key: Key): Array => {
    if (temperature === 0) return np.astype(np.argmax(logits, { axis: -1 }), 'int32');
    let scaled = np.divide(np.astype(logits, 'float32'), temperature);
    if (o.topK !== undefined) {
      const [values] = lax.topK(scaled, Math.min(o.topK, scaled.shape[1]));
      const kth = np.slice(values, null, [values.shape[1] - 1, values.shape[1]]);
      scaled = np.where(np.less(scaled, kth), -Infinity, scaled);
    }
    return np.astype(random.categorical(key, scaled), 'int32');
  };
  const decodeStep = (params: unknown, cache: KVCache, tokens: Array, position: Array, key: Key) => {
    const r = decoder.decode(params, cache, tokens, position);
    return { cache: r.cache, next: pick(r.logits, key) };
  };
  // One compiled step per device the parameters live on: on WebGPU the host's position and key
  // (small CPU arrays) move to the GPU with each call.
  const steps = { cpu: jit(decodeStep), webgpu: jit(decodeStep, { device: 'webgpu' }) };
  return {
    get traceCount() {
      return steps.cpu.traceCount + steps.webgpu.traceCount;
    },
    generate(params, prompt, g) {
      const [b, promptLength] = prompt.shape;
      const total = promptLength + g.maxNewTokens;
      if (prompt.ndim !== 2 || promptLength < 1 || !Number.isInteger(g.maxNewTokens) || g.maxNewTokens < 0)
        throw new ValueError(
          `generate: needs a [batch, length >= 1] prompt and a whole maxNewTokens, got ${prompt.shape}`,
        );
      if (total > decoder.maxLength)
        throw new ValueError(`generate: ${total} tokens do not fit the model's ${decoder.maxLength} positions`);
      const onGpu = tree.leaves<Array>(params).some((x) => x instanceof GpuArray);
      const step = onGpu ? steps.webgpu : steps.cpu;
      let cache = decoder.initCache(b);
      const tokens: Array[] = globalThis.Array.from({ length: promptLength }, (_, i) =>
        np.slice(prompt, null, [i, i + 1]),
      );
      const keys = g.key ?? random.key(0);
      for (let pos = 0; pos < total - 1; pos++) {
        const r = step(params, cache, tokens[pos], np.array(pos, { dtype: 'int32' }), random.foldIn(keys, pos));
        cache = r.cache;
        if (pos + 1 >= promptLength) tokens.push(np.reshape(r.next, [b, 1]));
      }
      return np.concatenate(tokens, { axis: 1 });
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

const generators = new WeakMap<object, Map<string, ReturnType<typeof generator>>>();
/**
 * Generates `maxNewTokens` tokens after `promptIds [B, P]` (see {@link generator}; the compiled step
 * is kept per model and sampling options, so repeated calls do not recompile).
 * @example models.generate(gpt, params, prompt, { maxNewTokens: 50, temperature: 0.8, topK: 40, key: random.key(0) })
 * @category Models
 */
export function generate(
  model: Layer & { decoder?: Decoder },
  params: any,
  promptIds: Array,
  opts: SamplingOptions & { maxNewTokens: number; key?: Key },
): Array {
  const { maxNewTokens, key, ...sampling } = opts;
  const byOptions = generators.get(model) ?? generators.set(model, new Map()).get(model)!;
  const id = JSON.stringify(sampling);
  let g = byOptions.get(id);
  if (!g) byOptions.set(id, (g = generator(model, sampling)));
  return g.generate(params, promptIds, { maxNewTokens, key });
}
