/**
 * fast-check arbitraries for Fluxion values: shapes, dtypes, broadcastable shape pairs,
 * float arrays, pytrees and PRNG keys.
 * @module
 */
import fc from 'fast-check';
import { type Array, type DType, np, random } from '../src/index.js';

/** Shapes of rank 0..maxRank with dimensions 0..maxDim. */
export const shape = (maxRank = 3, maxDim = 4): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 0, max: maxDim }), { maxLength: maxRank });
/** Non-empty shapes (every dimension at least 1). */
export const nonEmptyShape = (maxRank = 3, maxDim = 4): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { maxLength: maxRank });
/** One of the dtypes every backend supports. */
export const dtype: fc.Arbitrary<DType> = fc.constantFrom('float32', 'int32', 'uint32', 'bool');

/** Two shapes that broadcast together (some axes set to 1 or dropped on either side). */
export const broadcastPair = (maxRank = 3, maxDim = 4): fc.Arbitrary<[number[], number[]]> =>
  fc
    .tuple(
      nonEmptyShape(maxRank, maxDim),
      fc.array(fc.integer({ min: 0, max: 2 }), { minLength: maxRank, maxLength: maxRank }),
      fc.integer({ min: 0, max: maxRank }),
    )
    .map(([s, mask, drop]) => {
      const a = s.map((d, i) => (mask[i] === 1 ? 1 : d));
      const b = s.map((d, i) => (mask[i] === 2 ? 1 : d)).slice(Math.min(drop, s.length));
      return [a, b];
    });

/** A float32 array of the given shape with elements in [min, max]. */
export const floatArray = (shp: number[], min = -3, max = 3): fc.Arbitrary<Array> =>
  fc
    .array(fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true }), {
      minLength: shp.reduce((a, b) => a * b, 1),
      maxLength: shp.reduce((a, b) => a * b, 1),
    })
    .map((d) => np.reshape(np.array(d), shp));

/** A float32 array of arbitrary shape. */
export const anyFloatArray = (maxRank = 3, maxDim = 4): fc.Arbitrary<Array> =>
  nonEmptyShape(maxRank, maxDim).chain((s) => floatArray(s));

/** Pytrees of small float arrays: nested objects and lists. */
export const pytree: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('list'), tie('object')),
  leaf: anyFloatArray(2, 3),
  list: fc.array(tie('node'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom('a', 'b', 'w', 'bias'), tie('node'), { maxKeys: 3 }),
})).node;

/** A PRNG key from an arbitrary seed. */
export const key: fc.Arbitrary<Array> = fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((s) => random.key(s));
