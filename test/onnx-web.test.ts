// ONNX Runtime Web (the browser's CPU path), run here in Node: jitted graphs become pending
// arrays computed by its WebAssembly sessions; eager operations chain on them; reads are async.
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Array,
  PendingArray,
  grad,
  initOnnxRuntimeWeb,
  jit,
  lax,
  makeGraph,
  nn,
  np,
  random,
  setCpuBackend,
  toDevice,
} from '../src/index.js';
import { runsOnOnnxRuntimeWeb } from '../src/backend/onnx-web.js';
import { assertClose } from '../laws/index.js';

const loss = (w: Array, x: Array) => np.sum(np.tanh(np.matmul(x, w)));
const w = random.normal(random.key(0), [4, 5]),
  x = random.normal(random.key(1), [3, 4]);
let expected: Array;

describe('ONNX Runtime Web', () => {
  beforeAll(async () => {
    setCpuBackend('js');
    expected = jit(grad(loss))(w, x); // computed before ONNX Runtime Web takes over
    await initOnnxRuntimeWeb(ortWeb as never);
  });

  it('runs jitted graphs, returning pending arrays read with await', async () => {
    const g = jit(grad(loss))(w, x);
    expect(g).toBeInstanceOf(PendingArray);
    expect(g.shape).toEqual([4, 5]);
    assertClose(np.array(globalThis.Array.from(await g.data())).reshape([4, 5]), expected);
  });

  it('refuses synchronous reads with a message that says what to do', () => {
    const g = jit(grad(loss))(w, x);
    expect(() => g.dataSync()).toThrow(/still being computed by ONNX Runtime Web; use await x.data\(\)/);
    expect(() => g.item()).toThrow(/await/);
  });

  it('chains eager operations and further jit calls on pending arrays', async () => {
    const g = jit(grad(loss))(w, x);
    const updated = jit((w: Array, g: Array) => np.subtract(w, np.multiply(g, 0.1)))(w, g);
    const norm = np.sum(np.square(updated));
    expect(norm).toBeInstanceOf(PendingArray);
    const want = np.sum(np.square(np.subtract(w, np.multiply(expected, 0.1)))).item();
    expect((await toDevice(norm, 'cpu')).item()).toBeCloseTo(want, 4);
  });

  it('runs what it cannot lower (a while loop) on the JavaScript kernels, still asynchronously', async () => {
    const body = (x: Array) =>
      lax.whileLoop(
        (c: Array) => np.less(np.sum(c), 100),
        (c: Array) => np.multiply(c, 2),
        x,
      );
    expect(await runsOnOnnxRuntimeWeb(makeGraph(body)(np.array([1, 2])))).toBe(false);
    const f = jit((x: Array) =>
      lax.whileLoop(
        (c: Array) => np.less(np.sum(c), 100),
        (c: Array) => np.multiply(c, 2),
        x,
      ),
    );
    const y = f(np.array([1, 2]));
    expect(globalThis.Array.from(await y.data())).toEqual([64, 128]);
  });

  it('runs a convolutional network', async () => {
    const layer = nn.serial(nn.conv2d(4, 3), nn.relu, nn.flatten, nn.dense(3));
    const init = layer.init(random.key(2), [2, 1, 8, 8]);
    const xs = random.normal(random.key(3), [2, 1, 8, 8]);
    const predict = (x: Array) => layer.apply(init.params, init.state, x).y;
    const y = jit(predict)(xs);
    expect(await runsOnOnnxRuntimeWeb(makeGraph(predict)(xs))).toBe(true);
    const want = layer.apply(init.params, init.state, xs).y;
    assertClose(np.array(globalThis.Array.from(await y.data())).reshape([2, 3]), want, { rtol: 1e-4, atol: 1e-5 });
  });
  it("runs a max-pool gradient (its fold is ONNX's Col2Im)", async () => {
    const xs = random.normal(random.key(4), [2, 3, 9, 9]);
    const dx = grad((v: Array) => np.sum(np.sin(nn.functional.maxPool2d(v, { kernelSize: 3, stride: 2, padding: 1 }))));
    expect(await runsOnOnnxRuntimeWeb(makeGraph(dx)(xs))).toBe(true);
    const got = np.array(globalThis.Array.from(await jit(dx)(xs).data())).reshape([2, 3, 9, 9]);
    assertClose(got, dx(xs), { rtol: 1e-5, atol: 1e-6 });
  });
  it('runs max pooling as MaxPool, with windows of NaN and of -infinity as eager answers them', async () => {
    const xs = random.normal(random.key(5), [1, 2, 6, 6]).at(0, 0, '0:2', '0:3').set(-Infinity).at(0, 1, 3, 3).set(NaN);
    const pool = (v: Array) => nn.functional.maxPool2d(v, { kernelSize: 3, stride: 2, padding: 1 });
    expect(await runsOnOnnxRuntimeWeb(makeGraph(pool)(xs))).toBe(true);
    const got = globalThis.Array.from(await jit(pool)(xs).data());
    const want = globalThis.Array.from(pool(xs).dataSync());
    expect(got).toEqual(want);
    expect(got.filter((v) => v === -Infinity)).toHaveLength(1);
    expect(got.filter(Number.isNaN)).toHaveLength(4);
  });
});
