/**
 * `io`: datasets, safetensors save/load.
 * @module
 */
export * from './datasets.js';
export * from './safetensors.js';
export { parseIdx } from './idx.js';
