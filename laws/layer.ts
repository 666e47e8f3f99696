/**
 * Laws of layers: init's outShape is apply's output shape, init and apply are deterministic
 * given a key, state keeps its structure through apply, and nothing passed in is mutated.
 * @module
 */
import { type Array, nn, random, tree } from '../src/index.js';
import { LawError, assertClose } from './laws.js';

type Shape = number[] | number[][];
const input = (shape: Shape, seed: number): any =>
  globalThis.Array.isArray(shape[0])
    ? (shape as number[][]).map((s, i) => input(s, seed + i))
    : random.normal(random.key(seed), shape as number[]);
const snapshot = (t: unknown) => tree.leaves<Array>(t).map((a) => globalThis.Array.from(a.dataSync()));
const shapes = (y: unknown): unknown => (globalThis.Array.isArray(y) ? y.map(shapes) : [...(y as Array).shape]);

/** `init(key, s).outShape` equals the shape of `apply(...).y` in training and inference. */
export function initShapeMatchesApply(layer: nn.Layer, inShape: Shape, seed = 0): true {
  const { params, state, outShape } = layer.init(random.key(seed), inShape as number[]);
  for (const training of [false, true]) {
    const { y } = layer.apply(params, state, input(inShape, seed + 1), { training, key: random.key(seed + 2) });
    if (JSON.stringify(shapes(y)) !== JSON.stringify(outShape)) {
      throw new LawError(
        `${layer.name}: init says outShape ${JSON.stringify(outShape)} but apply (training=${training}) gives ` +
          `${JSON.stringify(shapes(y))}`,
      );
    }
  }
  return true;
}

/** Same key, same params; same key, same (even stochastic) output. */
export function deterministicGivenKey(layer: nn.Layer, inShape: Shape, seed = 0): true {
  const a = layer.init(random.key(seed), inShape as number[]),
    b = layer.init(random.key(seed), inShape as number[]);
  tree
    .leaves<Array>(a.params)
    .forEach((p, i) =>
      assertClose(p, tree.leaves<Array>(b.params)[i], { rtol: 0, atol: 0 }, `${layer.name} param ${i}`),
    );
  const x = input(inShape, seed + 1);
  const run = () =>
    tree.leaves<Array>(layer.apply(a.params, a.state, x, { training: true, key: random.key(seed + 3) }).y);
  const [y1, y2] = [run(), run()];
  y1.forEach((y, i) => assertClose(y, y2[i], { rtol: 0, atol: 0 }, `${layer.name} output ${i}`));
  return true;
}

/** The state that comes out has the structure, shapes and dtypes of the state that went in. */
export function stateRoundTrips(layer: nn.Layer, inShape: Shape, seed = 0): true {
  const { params, state } = layer.init(random.key(seed), inShape as number[]);
  for (const training of [false, true]) {
    const out = layer.apply(params, state, input(inShape, seed + 1), { training, key: random.key(seed) }).state;
    const [a, da] = tree.flatten<Array>(state),
      [b, db] = tree.flatten<Array>(out);
    if (!tree.structuresEqual(da, db))
      throw new LawError(
        `${layer.name}: state structure ${tree.structureString(da)} became ${tree.structureString(db)}`,
      );
    a.forEach((s, i) => {
      if (s.dtype !== b[i].dtype || s.shape.join() !== b[i].shape.join())
        throw new LawError(`${layer.name}: state leaf ${i} changed type`);
    });
  }
  return true;
}

/** apply leaves its params, state and input untouched. */
export function applyIsPure(layer: nn.Layer, inShape: Shape, seed = 0): true {
  const { params, state } = layer.init(random.key(seed), inShape as number[]);
  const x = input(inShape, seed + 1);
  const before = snapshot([params, state, x]);
  layer.apply(params, state, x, { training: true, key: random.key(seed) });
  const after = snapshot([params, state, x]);
  if (JSON.stringify(before) !== JSON.stringify(after)) throw new LawError(`${layer.name}: apply mutated its inputs`);
  return true;
}
