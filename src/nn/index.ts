/**
 * `nn`: layers as `{init, apply}` pairs, combinators, recurrent cells, initialisers,
 * losses and the functional forms (`nn.functional`).
 * @module
 */
export * from './layer.js';
export * from './layers.js';
export * from './recurrent.js';
export * from './receptive.js';
export * as init from './init.js';
export * as functional from './functional.js';
export { mse, softmaxCrossEntropy, binaryCrossEntropyWithLogits, nll, huber, accuracy, oneHot } from './functional.js';
