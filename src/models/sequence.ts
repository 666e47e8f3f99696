/**
 * Sequence models: recurrent classifiers, a GRU character language model, a temporal
 * convolutional network.
 * @module
 */
import type { Array } from '../core/array.js';
import * as np from '../np/index.js';
import { type Layer, dense, embedding, gruCell, lambda, lstmCell, rnn, serial, temporalBlock } from '../nn/index.js';

/** Options of the recurrent classifiers. @category Models */
export interface SequenceClassifierOptions {
  cell?: 'lstm' | 'gru';
  hidden?: number;
  numClasses?: number;
  bidirectional?: boolean;
}

/**
 * Sequence classifier: an LSTM or GRU over `[N, T, I]` (batch first), classifying from the last step.
 * @category Models
 */
export function sequenceClassifier(opts: SequenceClassifierOptions = {}): Layer {
  const h = opts.hidden ?? 32;
  const cell = opts.cell === 'gru' ? gruCell(h) : lstmCell(h);
  return serial({
    rnn: rnn(cell, { batchFirst: true, returnSequences: false, bidirectional: opts.bidirectional }),
    fc: dense(opts.numClasses ?? 2),
  });
}
/** LSTM classifier over `[N, T, I]`: {@link sequenceClassifier} with an LSTM cell. @category Models */
export const lstmClassifier = (opts: Omit<SequenceClassifierOptions, 'cell'> = {}): Layer =>
  sequenceClassifier({ ...opts, cell: 'lstm' });

/**
 * Character-level language model: token ids `[N, T]` (int32) -> embedding -> GRU -> logits
 * `[N, T, vocab]` over the next token at every step (train with `softmaxCrossEntropy` against
 * the ids shifted by one).
 * @example const lm = gruLanguageModel({ vocab: 65 }); lm.init(key, [8, 32]).outShape // [8, 32, 65]
 * @category Models
 */
export function gruLanguageModel(opts: { vocab: number; embed?: number; hidden?: number }): Layer {
  return serial({
    embedding: embedding(opts.vocab, opts.embed ?? 32),
    rnn: rnn(gruCell(opts.hidden ?? 128), { batchFirst: true }),
    fc: dense(opts.vocab),
  });
}

/**
 * Temporal convolutional network (Bai et al. 2018) on `[N, C, T]`: dilated residual blocks (dilation
 * 2^i), then the last step classified. @category Models
 */
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
