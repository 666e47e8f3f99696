/**
 * ONNX's signal operators with the spec's real/imaginary trailing axis (no complex dtype):
 * `DFT` and `STFT` as contractions with static cosine and sine matrices (so they differentiate
 * and batch like any matmul), and `MelWeightMatrix` as a constant.
 * @module
 */
import type { Array } from '../core/array.js';
import { FluxionError } from '../core/errors.js';
import * as np from '../np/index.js';
import type { OpContext } from './ops.js';

type Op = (ins: (Array | undefined)[], ctx: OpContext) => (Array | undefined)[];

/** A known scalar input. */
function scalar(x: Array | undefined, ctx: OpContext, what: string): number {
  const c = x?.toConcrete();
  if (!c) throw new FluxionError(`${ctx.where}: ${what} must be a known value`);
  return Number(c.buffer[0]);
}

/**
 * The DFT along `axis` of a signal whose last axis holds [real] or [real, imaginary]: `length`
 * samples (zero-padded or truncated), `bins` outputs (all, or the one-sided half).
 */
function dft(x: Array, axis: number, length: number, inverse: boolean, onesided: boolean): Array {
  const complex = x.shape[x.ndim - 1] === 2;
  let re = np.take(x, 0, { axis: -1 });
  let im = complex ? np.take(x, 1, { axis: -1 }) : null;
  const ax = axis < 0 ? axis + re.ndim : axis;
  const fit = (v: Array) => {
    const n = v.shape[ax];
    if (n === length) return v;
    if (n > length) return np.take(v, np.arange(length).astype('int32'), { axis: ax });
    return np.pad(
      v,
      v.shape.map((_, i) => (i === ax ? [0, length - n] : [0, 0])),
    );
  };
  re = np.moveaxis(fit(re), ax, -1);
  im = im ? np.moveaxis(fit(im), ax, -1) : null;
  const bins = onesided ? Math.floor(length / 2) + 1 : length;
  const sign = inverse ? 1 : -1;
  const cos = new Float64Array(length * bins),
    sin = new Float64Array(length * bins);
  for (let n = 0; n < length; n++)
    for (let k = 0; k < bins; k++) {
      // e^{±2πi kn/N}, with kn reduced mod N so large products keep their precision.
      const angle = (2 * Math.PI * ((k * n) % length)) / length;
      cos[n * bins + k] = Math.cos(angle);
      sin[n * bins + k] = sign * Math.sin(angle);
    }
  const C = np.array(cos, { shape: [length, bins] }).astype(re.dtype),
    S = np.array(sin, { shape: [length, bins] }).astype(re.dtype);
  // (re + i·im)(cos + i·sin): real re·cos − im·sin, imaginary re·sin + im·cos.
  let outRe = np.matmul(re, C),
    outIm = np.matmul(re, S);
  if (im) {
    outRe = np.subtract(outRe, np.matmul(im, S));
    outIm = np.add(outIm, np.matmul(im, C));
  }
  if (inverse) [outRe, outIm] = [np.divide(outRe, length), np.divide(outIm, length)];
  return np.stack([np.moveaxis(outRe, -1, ax), np.moveaxis(outIm, -1, ax)], { axis: -1 });
}

export const signalOps: Record<string, Op> = {
  DFT: (ins, ctx) => {
    const x = ins[0];
    if (!x) throw new FluxionError(`${ctx.where}: input is required`);
    // Opset 20 takes the axis as an input; 17 as an attribute (default 1).
    const axis = ctx.opset >= 20 && ins[2] ? scalar(ins[2], ctx, 'axis') : ctx.attrs.int('axis', 1);
    const ax = axis < 0 ? axis + x.ndim - 1 : axis;
    const length = ins[1] && ins[1].size ? scalar(ins[1], ctx, 'dft_length') : x.shape[ax];
    const inverse = ctx.attrs.int('inverse', 0) !== 0,
      onesided = ctx.attrs.int('onesided', 0) !== 0;
    if (inverse && onesided) throw new FluxionError(`${ctx.where}: an inverse one-sided DFT is not defined`);
    return [dft(x, ax, length, inverse, onesided)];
  },
  STFT: (ins, ctx) => {
    const signal = ins[0];
    if (!signal) throw new FluxionError(`${ctx.where}: signal is required`);
    const step = scalar(ins[1], ctx, 'frame_step');
    const window = ins[2];
    const frameLength = ins[3] ? scalar(ins[3], ctx, 'frame_length') : window ? window.shape[0] : undefined;
    if (!frameLength) throw new FluxionError(`${ctx.where}: needs a window or a frame_length`);
    const n = signal.shape[1];
    const frames = Math.floor((n - frameLength) / step) + 1;
    if (frames < 1) throw new FluxionError(`${ctx.where}: a signal of ${n} samples holds no frame of ${frameLength}`);
    // Frames gathered with a static index table: [batch, frames, frameLength, 1 or 2].
    const idx = np.add(
      np.expandDims(np.multiply(np.arange(frames), step), 1),
      np.expandDims(np.arange(frameLength), 0),
    );
    let framed = np.take(signal, np.astype(idx, 'int32'), { axis: 1 });
    if (window) framed = np.multiply(framed, np.reshape(np.astype(window, framed.dtype), [1, 1, frameLength, 1]));
    return [dft(framed, 2, frameLength, false, ctx.attrs.int('onesided', 1) !== 0)];
  },
  MelWeightMatrix: (ins, ctx) => {
    const [mels, dftLength, rate] = [0, 1, 2].map((i) =>
      scalar(ins[i], ctx, ['num_mel_bins', 'dft_length', 'sample_rate'][i]),
    );
    const [lowHz, highHz] = [3, 4].map((i) => scalar(ins[i], ctx, i === 3 ? 'lower_edge_hertz' : 'upper_edge_hertz'));
    const spectrogramBins = Math.floor(dftLength / 2) + 1;
    const mel = (f: number) => 2595 * Math.log10(1 + f / 700);
    const [lo, hi] = [mel(lowHz), mel(highHz)];
    // Band edges: mels + 2 points on the mel scale (the spec's step divides by their count), as bin indices.
    const step = (hi - lo) / (mels + 2);
    const edges = globalThis.Array.from({ length: mels + 2 }, (_, i) =>
      Math.floor(((dftLength + 1) * 700 * (10 ** ((i * step + lo) / 2595) - 1)) / rate),
    );
    const out = new Float64Array(spectrogramBins * mels);
    for (let m = 0; m < mels; m++) {
      const [left, center, right] = [edges[m], edges[m + 1], edges[m + 2]];
      if (center === left) out[center * mels + m] = 1;
      else for (let j = left; j <= center; j++) out[j * mels + m] = (j - left) / (center - left);
      for (let j = center; j < right; j++) out[j * mels + m] = (right - j) / (right - center);
    }
    const dtype = ctx.attrs.int('output_datatype', 1);
    const w = np.array(out, { shape: [spectrogramBins, mels] });
    return [dtype === 1 ? w.astype('float32') : w];
  },
};
