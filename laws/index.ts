/**
 * `fluxion/laws`: property-based laws and fast-check arbitraries, exported for users who
 * want to check their own functions, layers and primitives the way Fluxion checks its own.
 * @module
 */
export * from './laws.js';
export * from './arbitraries.js';
export { samples, rng, randomArray, type Sample } from './samples.js';
