/**
 * The primitive registry. Importing this module defines every primitive; `registry` (from
 * core/primitive) then lists them all, so tests can iterate every one.
 * @module
 */
export * from './elementwise.js';
export * from './views.js';
export * from './reduce.js';
export * from './dot.js';
export * from './indexing.js';
export * from './windows.js';
export * from './random.js';
export * from './dynamic.js';
export { registry } from '../core/primitive.js';
export * from './linalg.js';
export * from './collectives.js';
