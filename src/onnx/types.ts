/**
 * ONNX element types in Fluxion: which dtype holds each, and the error every import refusal throws.
 * @module
 */
import type { DType } from '../core/dtype.js';
import { FluxionError } from '../core/errors.js';
import { TensorProto_DataType as T } from './generated/onnx_pb.js';

/** An ONNX file that cannot be imported: corrupt, hostile or using what Fluxion does not support. @category ONNX */
export class OnnxImportError extends FluxionError {}

export const TYPE_NAMES: Record<number, string> = {
  [T.FLOAT]: 'float',
  [T.UINT8]: 'uint8',
  [T.INT8]: 'int8',
  [T.UINT16]: 'uint16',
  [T.INT16]: 'int16',
  [T.INT32]: 'int32',
  [T.INT64]: 'int64',
  [T.STRING]: 'string',
  [T.BOOL]: 'bool',
  [T.FLOAT16]: 'float16',
  [T.DOUBLE]: 'double',
  [T.UINT32]: 'uint32',
  [T.UINT64]: 'uint64',
  [T.BFLOAT16]: 'bfloat16',
};

/** ONNX element types Fluxion holds as they are. */
const SAME: Record<number, DType> = {
  [T.DOUBLE]: 'float64',
  [T.FLOAT]: 'float32',
  [T.FLOAT16]: 'float16',
  [T.BFLOAT16]: 'bfloat16',
  [T.INT32]: 'int32',
  [T.INT16]: 'int16',
  [T.INT8]: 'int8',
  [T.UINT32]: 'uint32',
  [T.UINT16]: 'uint16',
  [T.UINT8]: 'uint8',
  [T.BOOL]: 'bool',
};

/**
 * The Fluxion dtype of an ONNX element type: itself, except 64-bit integers, which are outside
 * the array model: int64 is held as int32 and uint64 as uint32 (values beyond them are an error,
 * never wrapped).
 * @category ONNX
 */
export function fluxionDType(elemType: number, where: string): DType {
  if (elemType === T.INT64) return 'int32';
  if (elemType === T.UINT64) return 'uint32';
  const d = SAME[elemType];
  if (!d) throw new OnnxImportError(`${where}: element type ${TYPE_NAMES[elemType] ?? elemType} is not supported`);
  return d;
}
