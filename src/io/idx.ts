/**
 * The IDX file format of MNIST and Fashion-MNIST: a magic number (two zero bytes, a type
 * code, the rank), big-endian dimension sizes, then the elements.
 * @module
 */
import { ValueError } from '../core/errors.js';

/** A parsed IDX file: raw unsigned bytes and the shape. */
export interface Idx {
  data: Uint8Array;
  shape: number[];
}

/** Parses an IDX file of unsigned bytes (type 0x08), checking header and size. @category IO */
export function parseIdx(bytes: Uint8Array, name = 'idx'): Idx {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0)
    throw new ValueError(`${name}: not an IDX file (bad magic number)`);
  if (bytes[2] !== 0x08)
    throw new ValueError(`${name}: IDX element type 0x${bytes[2].toString(16)} is not unsigned byte (0x08)`);
  const rank = bytes[3];
  if (bytes.length < 4 + 4 * rank) throw new ValueError(`${name}: truncated IDX header (rank ${rank})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (bytes.length - start !== size)
    throw new ValueError(
      `${name}: IDX header says ${size} elements of shape [${shape}] but the file holds ${bytes.length - start}`,
    );
  return { data: bytes.subarray(start), shape };
}
