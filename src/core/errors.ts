/**
 * Errors raised by Fluxion. Every message names the operation and the shapes, dtypes or
 * values involved, so a user can fix the call without reading library code.
 * @module
 */

/** Base class of every error Fluxion throws on purpose. @category Errors */
export class FluxionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit together (broadcasting, contraction, reshape, ...). @category Errors */
export class ShapeError extends FluxionError {}

/** A dtype the operation does not accept, or two dtypes that must agree. @category Errors */
export class DTypeError extends FluxionError {}

/** An axis, index or parameter outside its valid range. @category Errors */
export class ValueError extends FluxionError {}

/** An unknown or mistyped option in an options object. @category Errors */
export class OptionError extends FluxionError {}

/** A traced value used where a concrete one is needed, or a transform misused. @category Errors */
export class TraceError extends FluxionError {}

/**
 * A program the ONNX lowering cannot express faithfully; it runs on the JavaScript kernels instead.
 * @category Errors
 */
export class UnlowerableError extends FluxionError {}

/** Formats a shape the way numpy prints it: `(3, 4)`, `(5,)`, `()`. */
export function fmtShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}
