/**
 * Concrete layers. Each computes with the matching `nn.functional` function and initialises
 * like PyTorch unless told otherwise; weights use PyTorch's layouts, so they interoperate.
 * @module
 */
import { Array as ArrayClass, type Array } from '../core/array.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { checkOptions, codecs, t } from '../core/options.js';
import { type Key, split } from '../random.js';
import * as np from '../np/index.js';
import * as F from './functional.js';
import { type Initializer, fans, glorotUniform, normal, torchDefault } from './init.js';
import { unfold } from '../primitives/index.js';
import { type Layer, type PrecisionOptions, lambda, precision, shapeOf } from './layer.js';
import { floatOutput, withOutput } from './outputs.js';

const intOrList = t.union([t.number, t.array(t.number)]);
const tuple = (v: number | number[] | undefined, n: number, d: number) =>
  v === undefined ? new globalThis.Array(n).fill(d) : typeof v === 'number' ? new globalThis.Array(n).fill(v) : v;
const initCodec = t.Function as unknown as t.Type<Initializer>;
const keys2 = (key: Key): [Key, Key] => {
  const k = split(key, 2);
  return [np.slice(k, 0), np.slice(k, 1)];
};

/** Weight and optional bias, PyTorch-initialised by default. */
function weightAndBias(
  key: Key,
  wShape: number[],
  bShape: number[],
  bias: boolean,
  init?: Initializer,
  biasInit?: Initializer,
) {
  const [kw, kb] = keys2(key);
  const dflt = torchDefault(fans(wShape).fanIn);
  const params: { weight: Array; bias?: Array } = { weight: (init ?? dflt)(kw, wShape) };
  if (bias) params.bias = (biasInit ?? dflt)(kb, bShape);
  return params;
}

// ---------------------------------------------------------------- dense, embedding, flatten

/** Params of a layer with a weight and an optional bias (dense, convolutions). @category Layers */
export interface WeightBias {
  weight: Array;
  bias?: Array;
}
/** Batch norm's state, with PyTorch's names. @category Layers */
export interface BatchNormState {
  running_mean: Array;
  running_var: Array;
  num_batches_tracked: Array;
}

/** Options of {@link dense} (and the convolutions): `dtype` and `paramDtype` as {@link precision}. @category Layers */
export interface DenseOptions extends Pick<PrecisionOptions, 'dtype' | 'paramDtype'> {
  bias?: boolean;
  init?: Initializer;
  biasInit?: Initializer;
}
const precisionProps = { dtype: codecs.dtype, paramDtype: codecs.dtype };
/** The layer under `{ dtype, paramDtype }` when either is given. */
const withPrecision = <P, S>(o: PrecisionOptions, layer: Layer<P, S, Array>): Layer<P, S, Array> =>
  o.dtype || o.paramDtype ? precision(layer, { dtype: o.dtype, paramDtype: o.paramDtype }) : layer;
/**
 * Fully connected layer `y = x W^T + b` on the last axis; `weight [out, in]`.
 * @example dense(10).init(key, [32, 784]).outShape // [32, 10]
 * @category Layers
 */
export function dense(outFeatures: number, opts?: DenseOptions): Layer<WeightBias, {}, Array> {
  const o = checkOptions('dense', { bias: t.boolean, init: initCodec, biasInit: initCodec, ...precisionProps }, opts);
  return withPrecision<WeightBias, {}>(o, {
    name: 'dense',
    init(key, inShape) {
      const inF = inShape[inShape.length - 1];
      const params = weightAndBias(key, [outFeatures, inF], [outFeatures], o.bias ?? true, o.init, o.biasInit);
      const outShape = [...inShape.slice(0, -1), outFeatures];
      return withOutput({ params, state: {}, outShape }, floatOutput(outShape, params));
    },
    apply: (p, state, x) => ({ y: F.linear(x, p.weight, p.bias), state }),
  });
}

/** Embedding table `weight [num, dim]` (N(0, 1) as in PyTorch); input integer indices. @category Layers */
export function embedding(
  num: number,
  dim: number,
  opts?: { init?: Initializer } & Pick<PrecisionOptions, 'dtype' | 'paramDtype'>,
): Layer<any, any, Array> {
  const o = checkOptions('embedding', { init: initCodec, ...precisionProps }, opts);
  return withPrecision(o, {
    name: 'embedding',
    init: (key, inShape) => ({
      params: { weight: (o.init ?? normal(1))(key, [num, dim]) },
      state: {},
      outShape: [...inShape, dim],
    }),
    apply: (p, state, x) => ({ y: F.embedding(x, p.weight), state }),
  });
}

/** Flattens all axes after the batch axis. @category Layers */
export const flatten: Layer<{}, {}, Array> = lambda('flatten', (x) => np.reshape(x, [x.shape[0], -1]));

// ---------------------------------------------------------------- convolutions

/** Options of {@link conv2d} and {@link conv1d}. @category Layers */
export interface ConvLayerOptions extends F.ConvOptions, DenseOptions {}
const convProps = {
  stride: intOrList,
  padding: t.union([intOrList, t.literal('same'), t.literal('valid')]),
  dilation: intOrList,
  groups: t.number,
  bias: t.boolean,
  init: initCodec,
  biasInit: initCodec,
  ...precisionProps,
};

function convLayer(
  name: string,
  r: number,
  outChannels: number,
  kernelSize: number | number[],
  opts?: ConvLayerOptions,
): Layer<WeightBias, {}, Array> {
  const o = checkOptions(name, convProps, opts);
  const k = tuple(kernelSize, r, 1);
  const groups = o.groups ?? 1;
  const fopts: F.ConvOptions = {
    stride: o.stride,
    padding: o.padding as F.ConvOptions['padding'],
    dilation: o.dilation,
    groups,
  };
  const s = tuple(o.stride, r, 1)[0],
    d = tuple(o.dilation, r, 1)[0];
  const pad =
    typeof o.padding === 'string'
      ? o.padding === 'same'
        ? Math.floor((d * (k[0] - 1)) / 2)
        : 0
      : tuple(o.padding, r, 0)[0];
  return withPrecision<WeightBias, {}>(o, {
    name,
    window: { kernel: k[0], stride: s, padding: pad, dilation: d },
    init(key, inShape) {
      const c = inShape[1];
      if (inShape.length !== r + 2 || c % groups !== 0)
        throw new ShapeError(
          `${name}: input shape ${fmtShape(inShape)} must be [N, C, ${r} spatial] with C divisible by groups=${groups}`,
        );
      const params = weightAndBias(
        key,
        [outChannels, c / groups, ...k],
        [outChannels],
        o.bias ?? true,
        o.init,
        o.biasInit,
      );
      const outShape = F.convOutShape(inShape, params.weight.shape, fopts, name);
      return withOutput({ params, state: {}, outShape }, floatOutput(outShape, params));
    },
    apply: (p, state, x) => ({ y: F.conv(x, p.weight, p.bias, fopts, name), state }),
  });
}
/**
 * 2-d convolution layer, `weight [O, C/groups, kH, kW]` (OIHW). @example conv2d(6, 5, {padding: 2})
 * @category Layers
 */
export const conv2d = (
  outChannels: number,
  kernelSize: number | number[],
  opts?: ConvLayerOptions,
): Layer<WeightBias, {}, Array> => convLayer('conv2d', 2, outChannels, kernelSize, opts);
/** 1-d convolution layer, `weight [O, C/groups, K]`. @category Layers */
export const conv1d = (
  outChannels: number,
  kernelSize: number,
  opts?: ConvLayerOptions,
): Layer<WeightBias, {}, Array> => convLayer('conv1d', 1, outChannels, kernelSize, opts);

/** Options of {@link convTranspose2d}. @category Layers */
export interface ConvTransposeLayerOptions extends F.ConvTransposeOptions, DenseOptions {}
/** Transposed 2-d convolution layer, `weight [C_in, O/groups, kH, kW]` (IOHW). @category Layers */
export function convTranspose2d(
  outChannels: number,
  kernelSize: number | number[],
  opts?: ConvTransposeLayerOptions,
): Layer<any, any, Array> {
  const o = checkOptions(
    'convTranspose2d',
    {
      stride: intOrList,
      padding: intOrList,
      outputPadding: intOrList,
      groups: t.number,
      dilation: intOrList,
      bias: t.boolean,
      init: initCodec,
      biasInit: initCodec,
    },
    opts,
  );
  const k = tuple(kernelSize, 2, 1);
  const groups = o.groups ?? 1;
  const fopts: F.ConvTransposeOptions = {
    stride: o.stride,
    padding: o.padding,
    outputPadding: o.outputPadding,
    groups,
    dilation: o.dilation,
  };
  return {
    name: 'convTranspose2d',
    init(key, inShape) {
      const c = inShape[1];
      // PyTorch computes the fan from weight.shape[1] * kernel for transposed convs too.
      const params = weightAndBias(
        key,
        [c, outChannels / groups, ...k],
        [outChannels],
        o.bias ?? true,
        o.init ?? torchDefault((outChannels / groups) * k[0] * k[1]),
        o.biasInit ?? torchDefault((outChannels / groups) * k[0] * k[1]),
      );
      return {
        params,
        state: {},
        outShape: shapeOf((x) => F.convTranspose2d(x, params.weight, params.bias, fopts), inShape),
      };
    },
    apply: (p, state, x) => ({ y: F.convTranspose2d(x, p.weight, p.bias, fopts), state }),
  };
}

/**
 * Locally-connected 2-d layer: a convolution whose weights are not shared across positions,
 * `weight [Ho, Wo, O, C, kH, kW]` (unfold, then one small matrix per output position).
 * @category Layers
 */
export function locallyConnected2d(
  outChannels: number,
  kernelSize: number | number[],
  opts?: { stride?: number | number[]; padding?: number | number[]; bias?: boolean },
): Layer<any, any, Array> {
  const o = checkOptions('locallyConnected2d', { stride: intOrList, padding: intOrList, bias: t.boolean }, opts);
  const k = tuple(kernelSize, 2, 1),
    s = tuple(o.stride, 2, 1),
    p = tuple(o.padding, 2, 0);
  const patches = (x: Array) => unfoldPatches(x, k, s, p); // [N, C, kH, kW, Ho, Wo]
  return {
    name: 'locallyConnected2d',
    window: { kernel: k[0], stride: s[0], padding: p[0], dilation: 1 },
    init(key, inShape) {
      const [n, c] = inShape;
      const [, , , , ho, wo] = shapeOf(patches, inShape);
      const params = weightAndBias(
        key,
        [ho, wo, outChannels, c, k[0], k[1]],
        [outChannels, ho, wo],
        o.bias ?? true,
        torchDefault(c * k[0] * k[1]),
        torchDefault(c * k[0] * k[1]),
      );
      return { params, state: {}, outShape: [n, outChannels, ho, wo] };
    },
    apply(prm, state, x) {
      let y = np.einsum('nckluv,uvockl->nouv', patches(x), prm.weight);
      if (prm.bias) y = np.add(y, prm.bias);
      return { y, state };
    },
  };
}
const unfoldPatches = (x: Array, k: number[], s: number[], p: number[]) =>
  unfold(x, {
    window: k,
    strides: s,
    padding: p.map((v) => [v, v] as [number, number]),
    dilation: [1, 1],
    padValue: 0,
  });

// ---------------------------------------------------------------- pooling

const poolLayer =
  (name: string, fn: (x: Array, o: F.PoolOptions & { countIncludePad?: boolean }) => Array) =>
  (
    kernelSize: number | number[],
    opts?: Omit<F.PoolOptions, 'kernelSize'> & { countIncludePad?: boolean },
  ): Layer<{}, {}, Array> => {
    const o = { kernelSize, ...opts }; // validated by the functional form when init traces it
    const k = tuple(kernelSize, 2, 1)[0];
    return lambda(name, (x) => fn(x, o), {
      kernel: k,
      stride: tuple(opts?.stride ?? kernelSize, 2, 1)[0],
      padding: tuple(opts?.padding, 2, 0)[0],
      dilation: tuple(opts?.dilation, 2, 1)[0],
    });
  };
/** Max pooling layer (NCHW). @example maxPool2d(2) @category Layers */
export const maxPool2d = poolLayer('maxPool2d', F.maxPool2d);
/** Average pooling layer (NCHW). @category Layers */
export const avgPool2d = poolLayer('avgPool2d', F.avgPool2d);
/** Adaptive average pooling to a fixed output size. @category Layers */
export const adaptiveAvgPool2d = (outputSize: number | number[]): Layer<{}, {}, Array> =>
  lambda('adaptiveAvgPool2d', (x) => F.adaptiveAvgPool2d(x, outputSize));
/** Global average pooling `[N, C, ...] -> [N, C]`. @category Layers */
export const globalAvgPool: Layer<{}, {}, Array> = lambda('globalAvgPool', F.globalAvgPool);
/** Global max pooling `[N, C, ...] -> [N, C]`. @category Layers */
export const globalMaxPool: Layer<{}, {}, Array> = lambda('globalMaxPool', F.globalMaxPool);

// ---------------------------------------------------------------- normalisation and dropout

/**
 * Batch normalisation over channels (axis 1). State `{running_mean, running_var,
 * num_batches_tracked}` (PyTorch's names, so checkpoints interoperate) goes in and comes out:
 * training uses batch statistics and returns updated running ones.
 * @category Layers
 */
export function batchNorm(opts?: {
  momentum?: number;
  eps?: number;
  affine?: boolean;
}): Layer<Partial<WeightBias>, BatchNormState, Array> {
  const o = checkOptions('batchNorm', { momentum: t.number, eps: t.number, affine: t.boolean }, opts);
  return {
    name: 'batchNorm',
    init(_, inShape) {
      const c = inShape[1];
      const params = o.affine === false ? {} : { weight: np.ones([c]), bias: np.zeros([c]) };
      const state = {
        running_mean: np.zeros([c]),
        running_var: np.ones([c]),
        num_batches_tracked: np.zeros([], { dtype: 'int32' }),
      };
      return withOutput({ params, state, outShape: [...inShape] }, floatOutput(inShape, [params, state.running_mean]));
    },
    apply(p, s, x, a = {}) {
      const training = a.training ?? false;
      const r = F.batchNorm(x, s.running_mean, s.running_var, p.weight ?? null, p.bias ?? null, {
        training,
        momentum: o.momentum,
        eps: o.eps,
      });
      const tracked = s.num_batches_tracked ?? np.zeros([], { dtype: 'int32' });
      return {
        y: r.y,
        state: {
          running_mean: r.runningMean,
          running_var: r.runningVar,
          num_batches_tracked: training ? np.add(tracked, 1) : tracked,
        },
      };
    },
  };
}

/** Layer normalisation over the trailing `dims` axes (default 1). @category Layers */
export function layerNorm(opts?: { dims?: number; eps?: number }): Layer<any, any, Array> {
  const o = checkOptions('layerNorm', { dims: t.number, eps: t.number }, opts);
  const d = o.dims ?? 1;
  return {
    name: 'layerNorm',
    init: (_, inShape) => {
      const ns = inShape.slice(inShape.length - d);
      return { params: { weight: np.ones(ns), bias: np.zeros(ns) }, state: {}, outShape: [...inShape] };
    },
    apply: (p, state, x) => ({ y: F.layerNorm(x, x.shape.slice(x.ndim - d), p.weight, p.bias, { eps: o.eps }), state }),
  };
}

/**
 * Inverted dropout with drop probability `rate`; identity unless `training`. Needs a key when
 * training. @category Layers
 */
export function dropout(rate: number): Layer<any, any, Array> {
  if (!(rate >= 0 && rate < 1)) throw new ValueError(`dropout: rate must be in [0, 1), got ${rate}`);
  return lambda('dropout', (x, { training, key }) => {
    if (!training || rate === 0) return x;
    if (!key) throw new ValueError('dropout: training needs a key (apply(params, state, x, {training: true, key}))');
    return F.dropout(x, rate, key);
  });
}

// ---------------------------------------------------------------- activations

/**
 * An activation layer: a layer value (`nn.serial(nn.dense(3), nn.gelu)`) that, called with the
 * function's further arguments, gives the layer that passes them (`nn.gelu({ approximate: 'tanh' })`,
 * `nn.leakyRelu(0.2)`, `nn.softmax(1)`), as `nn.functional.gelu(x, { approximate: 'tanh' })`.
 * @category Activations
 */
export type Activation<A extends unknown[] = []> = Layer<{}, {}, Array> & ((...args: A) => Layer<{}, {}, Array>);

function activation<A extends unknown[]>(name: string, f: (x: Array, ...args: A) => Array): Activation<A> {
  const configured = (...args: A): Layer<{}, {}, Array> => lambda(name, (x) => f(x, ...args));
  const plain = configured(...([] as unknown as A));
  return Object.defineProperties(configured, {
    name: { value: name },
    init: { value: plain.init },
    apply: { value: plain.apply },
  }) as Activation<A>;
}

/** @category Activations */ export const relu = activation('relu', F.relu);
/** @category Activations */ export const relu6 = activation('relu6', F.relu6);
/** @category Activations */ export const leakyRelu = activation('leakyRelu', F.leakyRelu);
/** @category Activations */ export const elu = activation('elu', F.elu);
/** @category Activations */ export const celu = activation('celu', F.celu);
/** @category Activations */ export const selu = activation('selu', F.selu);
/** @category Activations */ export const gelu = activation('gelu', F.gelu);
/** @category Activations */ export const silu = activation('silu', F.silu);
/** @category Activations */ export const swish = silu;
/** @category Activations */ export const mish = activation('mish', F.mish);
/** @category Activations */ export const hardSigmoid = activation('hardSigmoid', F.hardSigmoid);
/** @category Activations */ export const hardSwish = activation('hardSwish', F.hardSwish);
/** @category Activations */ export const sigmoid = activation('sigmoid', F.sigmoid);
/** @category Activations */ export const logSigmoid = activation('logSigmoid', F.logSigmoid);
/** @category Activations */ export const tanh = activation('tanh', F.tanh);
/** @category Activations */ export const softplus = activation('softplus', F.softplus);
/** @category Activations */ export const softsign = activation('softsign', F.softsign);
/** @category Activations */ export const glu = activation('glu', F.glu);
/** @category Activations */ export const softmax = activation('softmax', F.softmax);
/** @category Activations */ export const logSoftmax = activation('logSoftmax', F.logSoftmax);

// ---------------------------------------------------------------- normalisation and attention

/** RMS normalisation over the trailing `dims` axes with a learned scale `weight` (PyTorch's `nn.RMSNorm`). @category Layers */
export function rmsNorm(opts?: { dims?: number; eps?: number }): Layer<{ weight: Array }, {}, Array> {
  const o = checkOptions('rmsNorm', { dims: t.number, eps: t.number }, opts);
  const d = o.dims ?? 1;
  return {
    name: 'rmsNorm',
    init: (_, inShape) => ({
      params: { weight: np.ones(inShape.slice(inShape.length - d)) },
      state: {},
      outShape: [...inShape],
    }),
    apply: (p, state, x) => ({ y: F.rmsNorm(x, x.shape.slice(x.ndim - d), p.weight, { eps: o.eps }), state }),
  };
}

/** Group normalisation of `[N, C, ...]` in `numGroups` groups, per-channel `weight` and `bias` (PyTorch's names). @category Layers */
export function groupNorm(
  numGroups: number,
  opts?: { eps?: number; affine?: boolean },
): Layer<Partial<WeightBias>, {}, Array> {
  const o = checkOptions('groupNorm', { eps: t.number, affine: t.boolean }, opts);
  return {
    name: 'groupNorm',
    init(_, inShape) {
      const c = inShape[1];
      if (inShape.length < 2 || c % numGroups !== 0)
        throw new ShapeError(
          `groupNorm: input ${fmtShape(inShape)} needs [N, C, ...] with C divisible by ${numGroups}`,
        );
      return {
        params: o.affine === false ? {} : { weight: np.ones([c]), bias: np.zeros([c]) },
        state: {},
        outShape: [...inShape],
      };
    },
    apply: (p, state, x) => ({ y: F.groupNorm(x, numGroups, p.weight, p.bias, { eps: o.eps }), state }),
  };
}

/** Instance normalisation of `[N, C, ...]` (PyTorch's `nn.InstanceNorm` without running statistics; `affine` off by default, as there). @category Layers */
export function instanceNorm(opts?: { eps?: number; affine?: boolean }): Layer<Partial<WeightBias>, {}, Array> {
  const o = checkOptions('instanceNorm', { eps: t.number, affine: t.boolean }, opts);
  return {
    name: 'instanceNorm',
    init: (_, inShape) => ({
      params: o.affine ? { weight: np.ones([inShape[1]]), bias: np.zeros([inShape[1]]) } : {},
      state: {},
      outShape: [...inShape],
    }),
    apply: (p, state, x) => ({ y: F.instanceNorm(x, p.weight, p.bias, { eps: o.eps }), state }),
  };
}

/**
 * Learned position embeddings added to `x [B, T, D]`: `weight [maxLength, D]`, N(0, 0.02) as GPT-2's `wpe`.
 * @category Layers
 */
export function positionalEmbedding(
  maxLength: number,
  opts?: { init?: Initializer },
): Layer<{ weight: Array }, {}, Array> {
  const o = checkOptions('positionalEmbedding', { init: initCodec }, opts);
  return {
    name: 'positionalEmbedding',
    init: (key, inShape) => ({
      params: { weight: (o.init ?? normal(0.02))(key, [maxLength, inShape[inShape.length - 1]]) },
      state: {},
      outShape: [...inShape],
    }),
    apply(p, state, x) {
      const steps = x.shape[x.ndim - 2];
      if (steps > maxLength)
        throw new ShapeError(`positionalEmbedding: ${steps} positions, but the table holds ${maxLength}`);
      return { y: np.add(x, np.slice(p.weight, [0, steps])), state };
    },
  };
}
/** Adds the sinusoidal encodings of Vaswani et al. to `x [B, T, D]` (no parameters). @category Layers */
export const sinusoidalEncoding: Layer<{}, {}, Array> = lambda('sinusoidalEncoding', (x) =>
  np.add(x, F.sinusoidalPositions(x.shape[x.ndim - 2], x.shape[x.ndim - 1], { dtype: x.dtype })),
);

/** Params of {@link multiHeadAttention}, with PyTorch's `nn.MultiheadAttention` names. @category Layers */
export interface MultiHeadAttentionParams {
  in_proj_weight: Array;
  in_proj_bias?: Array;
  out_proj: WeightBias;
}
/** What {@link multiHeadAttention} applies to: one array (self-attention) or query, key and value with masks. @category Layers */
export interface AttentionInput {
  query: Array;
  key?: Array;
  value?: Array;
  /** `[N, S]` bool, true where a key is padding (left out), as PyTorch's `key_padding_mask`. */
  keyPaddingMask?: Array;
  /** `[L, S]` or `[N*heads, L, S]`; bool true where attention is *not* allowed (PyTorch's), or float added. */
  attnMask?: Array;
  isCausal?: boolean;
}

/**
 * Multi-head attention with PyTorch's `nn.MultiheadAttention` parameters (`in_proj_weight [3E, E]`,
 * `in_proj_bias [3E]`, `out_proj.weight`, `out_proj.bias`), initialised as PyTorch does (Xavier
 * uniform projections, zero biases) so a `state_dict` loads as it is. Input `[N, L, E]` (batch
 * first; `batchFirst: false` for PyTorch's default `[L, N, E]`): an array for self-attention, or
 * `{ query, key, value, keyPaddingMask, attnMask, isCausal }` with PyTorch's mask conventions.
 * @example nn.multiHeadAttention(64, 4).init(key, [2, 10, 64]).params.in_proj_weight.shape // [192, 64]
 * @category Layers
 */
export function multiHeadAttention(
  embedDim: number,
  numHeads: number,
  opts?: { bias?: boolean; batchFirst?: boolean },
): Layer<MultiHeadAttentionParams, {}, Array> {
  const o = checkOptions('multiHeadAttention', { bias: t.boolean, batchFirst: t.boolean }, opts);
  if (!Number.isInteger(embedDim) || !Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads !== 0)
    throw new ValueError(`multiHeadAttention: embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
  const withBias = o.bias ?? true,
    batchFirst = o.batchFirst ?? true,
    h = embedDim / numHeads;
  const asInput = (x: Array | AttentionInput): AttentionInput => (x instanceof ArrayClass ? { query: x } : x);
  return {
    name: 'multiHeadAttention',
    init(key, inShape) {
      if (inShape[inShape.length - 1] !== embedDim)
        throw new ShapeError(`multiHeadAttention: input ${fmtShape(inShape)} does not end in embedDim ${embedDim}`);
      const [k1, k2] = keys2(key);
      const params: MultiHeadAttentionParams = {
        in_proj_weight: glorotUniform()(k1, [3 * embedDim, embedDim]),
        out_proj: { weight: torchDefault(embedDim)(k2, [embedDim, embedDim]) },
      };
      if (withBias) {
        params.in_proj_bias = np.zeros([3 * embedDim]);
        params.out_proj.bias = np.zeros([embedDim]);
      }
      return { params, state: {}, outShape: [...inShape] };
    },
    apply(p, state, x) {
      const a = asInput(x);
      const toBatchFirst = (t_: Array) => (batchFirst ? t_ : np.swapaxes(t_, 0, 1));
      const q = toBatchFirst(a.query),
        k = toBatchFirst(a.key ?? a.query),
        v = toBatchFirst(a.value ?? a.key ?? a.query);
      const [wq, wk, wv] = np.split(p.in_proj_weight, 3, { axis: 0 });
      const [bq, bk, bv] = p.in_proj_bias ? np.split(p.in_proj_bias, 3) : [null, null, null];
      const heads = (t_: Array, w: Array, b: Array | null) =>
        np.reshape(F.linear(t_, w, b), [t_.shape[0], t_.shape[1], numHeads, h]);
      const [n, l] = q.shape,
        s = k.shape[1];
      // PyTorch's masks say where attention is not allowed; dotProductAttention's where it is.
      let mask: Array | null = null,
        bias: Array | null = null;
      if (a.attnMask) {
        const m = a.attnMask.ndim === 3 ? np.reshape(a.attnMask, [n, numHeads, l, s]) : a.attnMask;
        if (m.dtype === 'bool') mask = np.logicalNot(m);
        else bias = m;
      }
      if (a.keyPaddingMask) {
        const keep = np.reshape(np.logicalNot(a.keyPaddingMask), [n, 1, 1, s]);
        mask = mask ? np.logicalAnd(mask, keep) : keep;
      }
      const y = F.dotProductAttention(heads(q, wq, bq), heads(k, wk, bk), heads(v, wv, bv), {
        mask,
        bias,
        isCausal: a.isCausal,
      });
      const out = F.linear(np.reshape(y, [n, l, embedDim]), p.out_proj.weight, p.out_proj.bias);
      return { y: toBatchFirst(out), state };
    },
  };
}
