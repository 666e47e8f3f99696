// Data pipelines: CIFAR-10's binary format (on a generated file), character corpora, batching
// by key, augmentation, prefetch, and corrupt or missing files as clear errors.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ValueError, io, np, random } from '../src/index.js';

/** A CIFAR-10 binary file of `n` records: label i % 10, pixel j of record i = (i + j) % 256. */
function cifarBytes(n: number, first = 0): Uint8Array {
  const out = new Uint8Array(n * 3073);
  for (let i = 0; i < n; i++) {
    out[i * 3073] = (first + i) % 10;
    for (let j = 0; j < 3072; j++) out[i * 3073 + 1 + j] = (first + i + j) % 256;
  }
  return out;
}

describe('CIFAR-10', () => {
  it('parses records into [N, 3, 32, 32] images in [0, 1] and int32 labels', () => {
    const { images, labels } = io.parseCifar10(cifarBytes(3));
    expect(images.shape).toEqual([3, 3, 32, 32]);
    expect(labels.toArray()).toEqual([0, 1, 2]);
    // Channel-major: record 2, channel 1, row 0, column 5 is byte 1024 + 5 of the record.
    expect(np.slice(images, 2, 1, 0, 5).item()).toBeCloseTo(((2 + 1024 + 5) % 256) / 255, 6);
  });
  it('reads the five training batches and the test batch from a folder, with limits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-cifar-'));
    for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), cifarBytes(2, 2 * (b - 1)));
    writeFileSync(join(dir, 'test_batch.bin'), cifarBytes(4));
    const { train, test } = io.cifar10({ dir, limitTest: 3 });
    expect(train.labels.toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(test.images.shape).toEqual([3, 3, 32, 32]);
    expect(() => io.cifar10({ dir, limitTrain: NaN })).toThrow(/limitTrain must be a non-negative integer, got NaN/);
  });
  it('rejects truncated files, bad labels and missing files', () => {
    expect(() => io.parseCifar10(cifarBytes(2).subarray(0, 5000), 'x.bin')).toThrow(
      /x.bin: 5000 bytes is not a whole number of 3073-byte CIFAR-10 records/,
    );
    const bad = cifarBytes(1);
    bad[0] = 12;
    expect(() => io.parseCifar10(bad)).toThrow(/record 0 has label 12/);
    expect(() => io.cifar10({ dir: '/nonexistent' })).toThrow(/cannot read .*data_batch_1.bin \(ENOENT\)/);
  });
});

describe('MNIST-format files', () => {
  it('a truncated gzip and a missing folder are ValueErrors, not zlib or fs errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-idx-'));
    const idx = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]);
    const gz = gzipSync(idx);
    for (const f of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'])
      writeFileSync(join(dir, f), idx);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gz.subarray(0, gz.length - 6));
    expect(() => io.fashionMnist({ dir })).toThrow(ValueError);
    expect(() => io.fashionMnist({ dir })).toThrow(/cannot read .*train-labels-idx1-ubyte.gz/);
    expect(() => io.mnist({ dir: '/nonexistent' })).toThrow(/not found under \/nonexistent/);
    expect(() => io.mnist({ dir, limitTrain: -1 })).toThrow(/limitTrain must be a non-negative integer/);
  });
});

describe('character corpus', () => {
  it('encodes and decodes, and draws shifted windows for next-token training', () => {
    const corpus = io.charCorpus('hello world');
    expect(corpus.vocab).toEqual([' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
    expect(corpus.decode(corpus.encode('world'))).toBe('world');
    expect(() => corpus.encode('hi!')).toThrow(/'i' is not in the vocabulary/);
    const { inputs, targets } = io.sequenceBatch(random.key(0), corpus.ids, 4, 5);
    expect(inputs.shape).toEqual([4, 5]);
    const ids = corpus.ids.toArray() as number[];
    const rows = inputs.toArray() as number[][],
      next = targets.toArray() as number[][];
    rows.forEach((row, b) => {
      const start = ids.findIndex((_, i) => row.every((v, k) => ids[i + k] === v));
      expect(start).toBeGreaterThanOrEqual(0);
      expect(next[b]).toEqual(ids.slice(start + 1, start + 6));
    });
    expect(() => io.sequenceBatch(random.key(0), corpus.ids, 2, 11)).toThrow(
      /seqLength must be an integer in \[1, 10\]/,
    );
  });
});

describe('pipelines', () => {
  const data = {
    images: np.reshape(np.arange(10), [10, 1, 1, 1]),
    labels: np.arange(10, undefined, 1, { dtype: 'int32' }),
  };
  it('batches a split in order, or shuffled by key (each example once per epoch, reproducibly)', () => {
    const plain = [...io.batches(data, { batchSize: 4 })].map((b) => b.labels.toArray());
    expect(plain).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(io.batchCount(10, { batchSize: 4 })).toBe(3);
    const shuffled = (k: number) =>
      [...io.batches(data, { batchSize: 4, key: random.key(k), dropLast: true })].flatMap((b) => {
        expect(b.images.reshape([-1]).toArray()).toEqual(b.labels.toArray()); // images stay with their labels
        return b.labels.toArray() as number[];
      });
    expect(shuffled(1)).toHaveLength(8);
    expect(new Set(shuffled(1)).size).toBe(8);
    expect(shuffled(1)).toEqual(shuffled(1));
    expect(shuffled(1)).not.toEqual(shuffled(2));
    expect(() => [...io.batches(data, { batchSize: 0 })]).toThrow(/batchSize must be a positive integer/);
  });
  it('maps and prefetches, keeping order', async () => {
    const pulled: number[] = [];
    const source = io.mapBatches([1, 2, 3, 4], (v, i) => (pulled.push(i), v * 10));
    const seen: number[] = [];
    for await (const v of io.prefetch(source, 2)) {
      seen.push(v);
      expect(pulled.length).toBeGreaterThanOrEqual(Math.min(4, seen.length + 1)); // the next one is ready
    }
    expect(seen).toEqual([10, 20, 30, 40]);
  });
  it('random crop, flip and normalisation', () => {
    const x = np.reshape(np.arange(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    const crop = io.randomCrop(random.key(0), x, 2);
    expect(crop.shape).toEqual([2, 3, 4, 4]);
    // Each crop is a window of the zero-padded image: its non-zero values are consecutive runs of the original rows.
    const padded = np
      .pad(x, [
        [0, 0],
        [0, 0],
        [2, 2],
        [2, 2],
      ])
      .toArray() as number[][][][];
    const c = crop.toArray() as number[][][][];
    for (let n = 0; n < 2; n++) {
      const found = [0, 1, 2, 3, 4].some((oy) =>
        [0, 1, 2, 3, 4].some((ox) =>
          c[n].every((ch, ci) => ch.every((row, i) => row.every((v, j) => v === padded[n][ci][oy + i][ox + j]))),
        ),
      );
      expect(found).toBe(true);
    }
    const flips = io.randomHorizontalFlip(random.key(3), x).toArray() as number[][][][];
    const xs = x.toArray() as number[][][][];
    flips.forEach((img, n) =>
      expect([xs[n], xs[n].map((ch) => ch.map((row) => [...row].reverse()))]).toContainEqual(img),
    );
    const z = io.normalize(np.ones([1, 2, 2, 2]), [0.5, 1], [0.25, 2]);
    expect(np.slice(z, 0, null, 0, 0).toArray()).toEqual([2, 0]);
    expect(() => io.normalize(x, [0.5], [1])).toThrow(/3 channels but 1 means/);
  });
});
