/**
 * Data pipelines as plain functions over iterables: shuffle by key and batch a split, map a
 * function over batches (augmentation), prefetch the next batch while a step runs. Randomness
 * comes from keys, so an epoch's order and augmentations are reproducible.
 * @module
 */
import type { Array } from '../core/array.js';
import { ValueError } from '../core/errors.js';
import * as np from '../np/index.js';
import { type Key, permutation, randint, split, uniform } from '../random.js';

/** A batch of a supervised split: inputs and targets with the batch on axis 0. @category Data */
export interface Batch {
  images: Array;
  labels: Array;
}

/** Options of {@link batches}. @category Data */
export interface BatchOptions {
  batchSize: number;
  /** Shuffles the examples with this key (no key: dataset order). */
  key?: Key;
  /** Drops a last batch smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /**
   * `[index, count]`: this process's part of every (global) batch, for data-parallel training: the
   * batch splits into `count` consecutive parts (equal when `count` divides it) and part `index`
   * is yielded. With the same key every process sees the same global batches.
   */
  shard?: readonly [number, number];
}

/**
 * The batches of a split in a shuffled (by `key`) or fixed order. Lazy: each batch is gathered
 * when it is asked for.
 * @example for (const { images, labels } of io.batches(train, { batchSize: 64, key: random.key(epoch) })) ...
 * @category Data
 */
export function* batches(data: Batch, opts: BatchOptions): Generator<Batch> {
  const n = data.images.shape[0];
  if (data.labels.shape[0] !== n) throw new ValueError(`batches: ${n} images but ${data.labels.shape[0]} labels`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
    throw new ValueError(`batches: batchSize must be a positive integer, got ${opts.batchSize}`);
  const [part, parts] = opts.shard ?? [0, 1];
  if (!Number.isInteger(parts) || parts < 1 || !Number.isInteger(part) || part < 0 || part >= parts)
    throw new ValueError(`batches: shard must be [index, count] with 0 <= index < count, got [${opts.shard}]`);
  const order = opts.key ? permutation(opts.key, n) : null;
  const end = opts.dropLast ? n - (n % opts.batchSize) : n;
  for (let b = 0; b < end; b += opts.batchSize) {
    const size = Math.min(b + opts.batchSize, n) - b;
    // Part `part` of this batch (the first `size % parts` parts one longer).
    const [each, extra] = [Math.floor(size / parts), size % parts];
    const i = b + part * each + Math.min(part, extra);
    const stop = i + each + (part < extra ? 1 : 0);
    if (!order) yield { images: np.slice(data.images, [i, stop]), labels: np.slice(data.labels, [i, stop]) };
    else {
      const idx = np.slice(order, [i, stop]);
      yield { images: np.take(data.images, idx, { axis: 0 }), labels: np.take(data.labels, idx, { axis: 0 }) };
    }
  }
}

/** The number of batches {@link batches} yields. @category Data */
export const batchCount = (n: number, opts: BatchOptions): number =>
  opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);

/**
 * Applies `fn` to each item, with the item's index (derive per-batch keys with `foldIn`).
 * @example io.mapBatches(io.batches(train, opts), (b, i) => ({ ...b, images:
 * io.randomHorizontalFlip(random.foldIn(key, i), b.images) }))
 * @category Data
 */
export function* mapBatches<T, U>(items: Iterable<T>, fn: (item: T, index: number) => U): Generator<U> {
  let i = 0;
  for (const item of items) yield fn(item, i++);
}

/**
 * Keeps `size` items ready ahead of the consumer: the next batch is gathered (and its upload
 * started) while the current step runs, which overlaps them on asynchronous devices.
 * @category Data
 */
export async function* prefetch<T>(items: Iterable<T>, size = 1): AsyncGenerator<Awaited<T>> {
  const it = items[Symbol.iterator]();
  const queue: Promise<Awaited<T>>[] = [];
  const pull = () => {
    const r = it.next();
    if (!r.done) queue.push(Promise.resolve(r.value));
    return !r.done;
  };
  for (let i = 0; i < Math.max(1, size) && pull(); i++);
  while (queue.length) {
    const next = queue.shift()!;
    pull();
    yield await next;
  }
}

// ---------------------------------------------------------------- augmentation (NCHW batches)

/**
 * Pads each image by `padding` zeros and crops a random window of the original size, a
 * different one per image (the CIFAR augmentation of He et al. 2016).
 * @category Data
 */
export function randomCrop(key: Key, images: Array, padding: number): Array {
  if (images.ndim !== 4) throw new ValueError(`randomCrop: images must be [N, C, H, W], got rank ${images.ndim}`);
  if (!Number.isInteger(padding) || padding < 0)
    throw new ValueError(`randomCrop: padding must be a non-negative integer, got ${padding}`);
  const [n, c, h, w] = images.shape;
  const padded = np.pad(images, [
    [0, 0],
    [0, 0],
    [padding, padding],
    [padding, padding],
  ]);
  const [ky, kx] = split(key);
  const oy = randint(ky, [n, 1, 1, 1], 0, 2 * padding + 1),
    ox = randint(kx, [n, 1, 1, 1], 0, 2 * padding + 1);
  const rows = np.add(oy, np.reshape(np.arange(h, undefined, 1, { dtype: 'int32' }), [1, 1, h, 1]));
  const cols = np.add(ox, np.reshape(np.arange(w, undefined, 1, { dtype: 'int32' }), [1, 1, 1, w]));
  const byRow = np.takeAlongAxis(padded, np.broadcastTo(rows, [n, c, h, 1]), 2);
  return np.takeAlongAxis(byRow, np.broadcastTo(cols, [n, c, 1, w]), 3);
}

/** Mirrors each image left-right with probability 1/2. @category Data */
export function randomHorizontalFlip(key: Key, images: Array): Array {
  const flip = np.less(uniform(key, [images.shape[0], ...images.shape.slice(1).map(() => 1)]), 0.5);
  return np.where(flip, np.flip(images, { axis: -1 }), images);
}

/** `(x - mean) / std` per channel (axis 1). @example io.normalize(x, [0.1307], [0.3081]) @category Data */
export function normalize(images: Array, mean: readonly number[], std: readonly number[]): Array {
  const c = images.shape[1];
  if (mean.length !== c || std.length !== c)
    throw new ValueError(`normalize: ${c} channels but ${mean.length} means and ${std.length} stds`);
  const shape = [1, c, ...images.shape.slice(2).map(() => 1)];
  return np.divide(np.subtract(images, np.reshape(np.array([...mean]), shape)), np.reshape(np.array([...std]), shape));
}
