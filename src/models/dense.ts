/**
 * Dense prediction and generative models: FCN, encoder-decoder, autoencoder, U-Net (NCHW).
 * @module
 */
import { ValueError } from '../core/errors.js';
import * as np from '../np/index.js';
import * as F from '../nn/functional.js';
import {
  type Layer,
  batchNorm,
  conv2d,
  convTranspose2d,
  dense,
  maxPool2d,
  module,
  relu,
  serial,
  sigmoid,
  skip,
} from '../nn/index.js';

const doubleConv = (c: number) =>
  serial(conv2d(c, 3, { padding: 1 }), batchNorm(), relu, conv2d(c, 3, { padding: 1 }), batchNorm(), relu);

/**
 * Fully convolutional network (Long et al. 2015): conv/pool encoder, 1x1 classifier, transposed-conv
 * upsampling to input size. @category Models
 */
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

/** Convolutional encoder-decoder: strided convs down, transposed convs up, same size out. @category Models */
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

/** Options of {@link autoencoder}. @category Models */
export interface AutoencoderOptions {
  /** Input `[C, H, W]` without the batch axis (default `[1, 28, 28]`); H and W divisible by 2^widths.length. */
  imageShape?: [number, number, number];
  /** Channels of the stride-2 encoder convolutions (default [16, 32]). */
  widths?: number[];
  /** Size of the latent vector (default 16). */
  latent?: number;
}

/**
 * Autoencoder with a latent vector: stride-2 convolutions down to a feature map, a dense layer
 * to `latent` numbers, a dense layer back, transposed convolutions up to the input size, and a
 * sigmoid (inputs in [0, 1]). `apply` gives the reconstruction; `encode` and `decode` the halves.
 * @example const ae = autoencoder({ latent: 8 }); // [N, 1, 28, 28] -> [N, 1, 28, 28]
 * @category Models
 */
export function autoencoder(opts: AutoencoderOptions = {}): Layer {
  const [c, h, w] = opts.imageShape ?? [1, 28, 28];
  const widths = opts.widths ?? [16, 32];
  const f = 2 ** widths.length;
  if (h % f || w % f)
    throw new ValueError(`autoencoder: image ${h}x${w} must be divisible by ${f} (2^${widths.length} downsamplings)`);
  const inner = [widths[widths.length - 1], h / f, w / f];
  const up = [...widths].reverse().slice(1);
  const layers = {
    encoder: serial(...widths.map((ch) => serial(conv2d(ch, 3, { stride: 2, padding: 1 }), relu))),
    toLatent: dense(opts.latent ?? 16),
    fromLatent: dense(inner[0] * inner[1] * inner[2]),
    decoder: serial(
      ...up.map((ch) => serial(convTranspose2d(ch, 4, { stride: 2, padding: 1 }), relu)),
      convTranspose2d(c, 4, { stride: 2, padding: 1 }),
      sigmoid,
    ),
  };
  return module(
    'autoencoder',
    layers,
    (m, x) => {
      const z = m.toLatent(np.reshape(m.encoder(x), [x.shape[0], -1]));
      return m.decoder(np.reshape(F.relu(m.fromLatent(z)), [x.shape[0], ...inner]));
    },
    [1, c, h, w],
  );
}

/**
 * U-Net (Ronneberger et al. 2015): each level is `doubleConv`, then a skip around (pool, deeper level,
 * up-conv), then `doubleConv`. @category Models
 */
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
