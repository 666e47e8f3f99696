/**
 * Model zoo: classic architectures written with the layer combinators, NCHW, sized by
 * arguments so the same code serves MNIST-sized tests and full-size use.
 * @module
 */
import type { Array } from '../core/array.js';
import * as np from '../np/index.js';
import {
  type Layer,
  adaptiveAvgPool2d,
  avgPool2d,
  batchNorm,
  conv2d,
  convTranspose2d,
  dense,
  denseConcat,
  dropout,
  flatten,
  globalAvgPool,
  gruCell,
  identity,
  lambda,
  lstmCell,
  maxPool2d,
  relu,
  residual,
  rnn,
  serial,
  skip,
  tanh,
  temporalBlock,
} from '../nn/index.js';

/**
 * LeNet-5 (LeCun et al. 1998) for `[N, 1, 28, 28]`: two 5x5 convolutions with pooling, then
 * 120-84-10 fully connected layers. `activation` tanh as in the paper or relu (default).
 * @example const { params } = lenet5().init(random.key(0), [1, 1, 28, 28]);
 * @category Models
 */
export function lenet5(opts: { numClasses?: number; activation?: 'relu' | 'tanh'; pool?: 'max' | 'avg' } = {}): Layer {
  const act = opts.activation === 'tanh' ? tanh : relu;
  const pool = opts.pool === 'avg' ? avgPool2d(2) : maxPool2d(2);
  return serial({
    conv1: conv2d(6, 5, { padding: 2 }),
    act1: act,
    pool1: pool,
    conv2: conv2d(16, 5),
    act2: act,
    pool2: pool,
    flatten,
    fc1: dense(120),
    act3: act,
    fc2: dense(84),
    act4: act,
    fc3: dense(opts.numClasses ?? 10),
  });
}

/** AlexNet (Krizhevsky et al. 2012), PyTorch's single-tower variant; `width` scales the channels. @category Models */
export function alexnet(opts: { numClasses?: number; width?: number; dropout?: number } = {}): Layer {
  const w = opts.width ?? 1,
    c = (n: number) => Math.max(1, Math.round(n * w));
  const p = opts.dropout ?? 0.5;
  return serial({
    features: serial(
      conv2d(c(64), 11, { stride: 4, padding: 2 }),
      relu,
      maxPool2d(3, { stride: 2 }),
      conv2d(c(192), 5, { padding: 2 }),
      relu,
      maxPool2d(3, { stride: 2 }),
      conv2d(c(384), 3, { padding: 1 }),
      relu,
      conv2d(c(256), 3, { padding: 1 }),
      relu,
      conv2d(c(256), 3, { padding: 1 }),
      relu,
      maxPool2d(3, { stride: 2 }),
    ),
    pool: adaptiveAvgPool2d(6),
    classifier: serial(
      flatten,
      dropout(p),
      dense(c(4096)),
      relu,
      dropout(p),
      dense(c(4096)),
      relu,
      dense(opts.numClasses ?? 1000),
    ),
  });
}

/** VGG (Simonyan & Zisserman 2015) from a config: numbers are 3x3 conv widths, 'M' a 2x2 max pool. @category Models */
export function vgg(
  config: (number | 'M')[] = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  opts: { numClasses?: number; batchNorm?: boolean; hidden?: number } = {},
): Layer {
  const features = config.flatMap((v) =>
    v === 'M' ? [maxPool2d(2)] : [conv2d(v, 3, { padding: 1 }), ...(opts.batchNorm ? [batchNorm()] : []), relu],
  );
  const h = opts.hidden ?? 4096;
  return serial({
    features: serial(...features),
    pool: globalAvgPool,
    classifier: serial(dense(h), relu, dropout(0.5), dense(h), relu, dropout(0.5), dense(opts.numClasses ?? 1000)),
  });
}

/** ResNet basic block (He et al. 2016): two 3x3 convs with batch norm, identity or projection shortcut. @category Models */
export function basicBlock(inChannels: number, outChannels: number, stride = 1): Layer {
  const body = serial(
    conv2d(outChannels, 3, { stride, padding: 1, bias: false }),
    batchNorm(),
    relu,
    conv2d(outChannels, 3, { padding: 1, bias: false }),
    batchNorm(),
  );
  const shortcut =
    stride !== 1 || inChannels !== outChannels
      ? serial(conv2d(outChannels, 1, { stride, bias: false }), batchNorm())
      : identity;
  return serial(residual(body, shortcut), relu);
}

/** ResNet with basic blocks: `blocks` per stage (ResNet-18: [2, 2, 2, 2]); `small` uses a 3x3 stem for 32x32 inputs. @category Models */
export function resnet(
  blocks: number[] = [2, 2, 2, 2],
  opts: { numClasses?: number; width?: number; small?: boolean } = {},
): Layer {
  const w = opts.width ?? 64;
  const stem = opts.small
    ? serial(conv2d(w, 3, { padding: 1, bias: false }), batchNorm(), relu)
    : serial(
        conv2d(w, 7, { stride: 2, padding: 3, bias: false }),
        batchNorm(),
        relu,
        maxPool2d(3, { stride: 2, padding: 1 }),
      );
  const stages: Layer[] = [];
  let c = w;
  blocks.forEach((n, s) => {
    const out = w * 2 ** s;
    for (let i = 0; i < n; i++) {
      stages.push(basicBlock(c, out, i === 0 && s > 0 ? 2 : 1));
      c = out;
    }
  });
  return serial({ stem, stages: serial(...stages), pool: globalAvgPool, fc: dense(opts.numClasses ?? 1000) });
}
/** ResNet-18. @category Models */
export const resnet18 = (opts: { numClasses?: number; width?: number; small?: boolean } = {}): Layer =>
  resnet([2, 2, 2, 2], opts);

/** DenseNet (Huang et al. 2017): dense blocks of bottleneck layers joined by transitions. @category Models */
export function densenet(
  opts: { growth?: number; blocks?: number[]; numClasses?: number; initChannels?: number } = {},
): Layer {
  const k = opts.growth ?? 12;
  let c = opts.initChannels ?? 2 * k;
  const parts: Layer[] = [conv2d(c, 3, { padding: 1, bias: false })];
  (opts.blocks ?? [6, 12, 24, 16]).forEach((n, i, all) => {
    for (let j = 0; j < n; j++) {
      parts.push(
        denseConcat(
          serial(
            batchNorm(),
            relu,
            conv2d(4 * k, 1, { bias: false }),
            batchNorm(),
            relu,
            conv2d(k, 3, { padding: 1, bias: false }),
          ),
        ),
      );
      c += k;
    }
    if (i < all.length - 1) {
      c = Math.floor(c / 2);
      parts.push(serial(batchNorm(), relu, conv2d(c, 1, { bias: false }), avgPool2d(2)));
    }
  });
  return serial({
    features: serial(...parts),
    norm: batchNorm(),
    act: relu,
    pool: globalAvgPool,
    fc: dense(opts.numClasses ?? 1000),
  });
}

const doubleConv = (c: number) =>
  serial(conv2d(c, 3, { padding: 1 }), batchNorm(), relu, conv2d(c, 3, { padding: 1 }), batchNorm(), relu);

/** Fully convolutional network (Long et al. 2015): conv/pool encoder, 1x1 classifier, transposed-conv upsampling to input size. @category Models */
export function fcn(opts: { numClasses?: number; widths?: number[] } = {}): Layer {
  const widths = opts.widths ?? [16, 32];
  const down = widths.flatMap((c) => [conv2d(c, 3, { padding: 1 }), relu, maxPool2d(2)]);
  const factor = 2 ** widths.length;
  return serial({
    encoder: serial(...down),
    score: conv2d(opts.numClasses ?? 2, 1),
    upsample: convTranspose2d(opts.numClasses ?? 2, 2 * factor, { stride: factor, padding: factor / 2 }),
  });
}

/** Convolutional encoder-decoder (autoencoder-style): strided convs down, transposed convs up. @category Models */
export function encoderDecoder(opts: { inChannels?: number; widths?: number[]; outChannels?: number } = {}): Layer {
  const widths = opts.widths ?? [16, 32];
  const enc = widths.map((c) => serial(conv2d(c, 3, { stride: 2, padding: 1 }), relu));
  const dec = [...widths]
    .reverse()
    .slice(1)
    .map((c) => serial(convTranspose2d(c, 4, { stride: 2, padding: 1 }), relu));
  return serial({
    encoder: serial(...enc),
    decoder: serial(...dec, convTranspose2d(opts.outChannels ?? opts.inChannels ?? 1, 4, { stride: 2, padding: 1 })),
  });
}

/** U-Net (Ronneberger et al. 2015): each level is `doubleConv`, then a skip around (pool, deeper level, up-conv), then `doubleConv`. @category Models */
export function unet(opts: { widths?: number[]; numClasses?: number } = {}): Layer {
  const widths = opts.widths ?? [16, 32, 64];
  const level = (i: number): Layer => {
    const c = widths[i];
    if (i === widths.length - 1) return doubleConv(c);
    return serial(
      doubleConv(c),
      skip(serial(maxPool2d(2), level(i + 1), convTranspose2d(c, 2, { stride: 2 }))),
      doubleConv(c),
    );
  };
  return serial({ body: level(0), head: conv2d(opts.numClasses ?? 2, 1) });
}

/** Sequence classifier: an LSTM or GRU over `[N, T, I]` (batch first), classifying from the last step. @category Models */
export function sequenceClassifier(
  opts: { cell?: 'lstm' | 'gru'; hidden?: number; numClasses?: number; bidirectional?: boolean } = {},
): Layer {
  const h = opts.hidden ?? 32;
  const cell = opts.cell === 'gru' ? gruCell(h) : lstmCell(h);
  return serial({
    rnn: rnn(cell, { batchFirst: true, returnSequences: false, bidirectional: opts.bidirectional }),
    fc: dense(opts.numClasses ?? 2),
  });
}

/** Temporal convolutional network (Bai et al. 2018) on `[N, C, T]`: dilated residual blocks (dilation 2^i), then the last step classified. @category Models */
export function tcn(
  inChannels: number,
  opts: { channels?: number[]; kernelSize?: number; numClasses?: number } = {},
): Layer {
  const chans = opts.channels ?? [16, 16];
  const blocks = chans.map((c, i) =>
    temporalBlock(i === 0 ? inChannels : chans[i - 1], c, opts.kernelSize ?? 3, 2 ** i),
  );
  const last = lambda('lastStep', (x: Array) => np.slice(x, null, null, -1));
  return serial({ blocks: serial(...blocks), last, fc: dense(opts.numClasses ?? 2) });
}
