/**
 * `io`: datasets, safetensors save/load.
 * @module
 */
export * from './datasets.js';
export * from './safetensors.js';
export * from './checkpoint.js';
export * from './pipeline.js';
export { parseIdx, type Idx } from './idx.js';

import { type Either, tryCatch } from 'fp-ts/lib/Either.js';
import { FluxionError } from '../core/errors.js';
import { loadSafetensors } from './safetensors.js';
import { parseIdx } from './idx.js';

const asFluxionError = (e: unknown): FluxionError => (e instanceof FluxionError ? e : new FluxionError(String(e)));

/**
 * {@link loadSafetensors} returning an fp-ts Either instead of throwing, for pipelines that
 * treat corrupt input as data.
 * @example pipe(io.loadSafetensorsE(bytes), E.map(({ params }) => params))
 * @category IO
 */
export const loadSafetensorsE = (bytes: Uint8Array): Either<FluxionError, ReturnType<typeof loadSafetensors>> =>
  tryCatch(() => loadSafetensors(bytes), asFluxionError);
/** {@link parseIdx} returning an fp-ts Either. @category IO */
export const parseIdxE = (bytes: Uint8Array, name?: string): Either<FluxionError, ReturnType<typeof parseIdx>> =>
  tryCatch(() => parseIdx(bytes, name), asFluxionError);
