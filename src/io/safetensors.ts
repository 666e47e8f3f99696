/**
 * Parameter trees to and from the safetensors format: an 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets}}`, then the raw little-endian data.
 * Tree paths become dotted names (`conv1.weight`); the header is validated with io-ts.
 * @module
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { Array as ArrayClass, ConcreteArray } from '../core/array.js';
import { type DType, allocate, byteSize } from '../core/dtype.js';
import { ValueError } from '../core/errors.js';
import { flatten, leafPaths } from '../tree.js';

const codes: Record<string, DType> = { F32: 'float32', I32: 'int32', U32: 'uint32', BOOL: 'bool' };
const names = Object.fromEntries(Object.entries(codes).map(([k, v]) => [v, k]));

/** Element types Fluxion does not hold, read into the nearest one it does (exactly, except F64). */
const widened: Record<string, { dtype: DType; bytes: number; read: (v: DataView, at: number) => number }> = {
  F16: { dtype: 'float32', bytes: 2, read: (v, at) => halfToFloat(v.getUint16(at, true)) },
  BF16: { dtype: 'float32', bytes: 2, read: (v, at) => bf16ToFloat(v.getUint16(at, true)) },
  F64: { dtype: 'float32', bytes: 8, read: (v, at) => v.getFloat64(at, true) },
  I64: { dtype: 'int32', bytes: 8, read: (v, at) => Number(v.getBigInt64(at, true)) },
  I16: { dtype: 'int32', bytes: 2, read: (v, at) => v.getInt16(at, true) },
  U16: { dtype: 'int32', bytes: 2, read: (v, at) => v.getUint16(at, true) },
  I8: { dtype: 'int32', bytes: 1, read: (v, at) => v.getInt8(at) },
  U8: { dtype: 'int32', bytes: 1, read: (v, at) => v.getUint8(at) },
};
const f32 = new Float32Array(1),
  u32 = new Uint32Array(f32.buffer);
function bf16ToFloat(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}
/** IEEE binary16 to a number (Node 20 has no Float16Array). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1,
    exp = (h >> 10) & 0x1f,
    frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const TensorInfo = t.strict({
  dtype: t.keyof({
    F32: null,
    I32: null,
    U32: null,
    BOOL: null,
    ...Object.fromEntries(Object.keys(widened).map((k) => [k, null])),
  }),
  shape: t.array(t.number),
  data_offsets: t.tuple([t.number, t.number]),
});
const Header = t.record(t.string, t.unknown);
const Metadata = t.record(t.string, t.string);

/** Name segments that would reach object prototypes when a tree is built from untrusted names. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
function segments(fn: string, name: string): string[] {
  const path = name.split('.');
  if (path.some((p) => p === '' || FORBIDDEN.has(p)))
    throw new ValueError(
      `${fn}: tensor name '${name.slice(0, 80)}' has an empty or reserved segment (__proto__, constructor, prototype)`,
    );
  return path;
}

/**
 * Serialises a tree of arrays (e.g. params) to safetensors bytes.
 * @example writeFileSync('model.safetensors', saveSafetensors(params))
 * @category IO
 */
export function saveSafetensors(params: unknown, metadata: Record<string, string> = {}): Uint8Array {
  const [leaves, def] = flatten<unknown>(params);
  const names_ = leafPaths(def).map((p) => p.join('.'));
  if (isLeft(Metadata.decode(metadata))) throw new ValueError('saveSafetensors: metadata must map strings to strings');
  // Names must stay distinct once dotted, and none may be another's prefix ({"a.b": x, a: {b: y}} would merge).
  const taken = new Set<string>();
  for (const name of names_) {
    segments('saveSafetensors', name);
    if (name === '__metadata__')
      throw new ValueError("saveSafetensors: a parameter named '__metadata__' would be read back as the metadata");
    if (taken.has(name)) throw new ValueError(`saveSafetensors: two parameters are both named '${name}'`);
    taken.add(name);
  }
  for (const name of names_) {
    const parts = name.split('.');
    for (let k = 1; k < parts.length; k++) {
      const prefix = parts.slice(0, k).join('.');
      if (taken.has(prefix))
        throw new ValueError(`saveSafetensors: parameter '${prefix}' is also a prefix of '${name}'`);
    }
  }
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  let offset = 0;
  const datas = leaves.map((leaf, i) => {
    if (!(leaf instanceof ArrayClass))
      throw new ValueError(`saveSafetensors: '${names_[i]}' is a ${typeof leaf}, not an array (wrap it: np.array(v))`);
    const data = leaf.dataSync();
    if (!names[leaf.dtype]) throw new ValueError(`saveSafetensors: ${names_[i]} has unsupported dtype ${leaf.dtype}`);
    header[names_[i]] = {
      dtype: names[leaf.dtype],
      shape: [...leaf.shape],
      data_offsets: [offset, offset + data.byteLength],
    };
    offset += data.byteLength;
    return data;
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // align the data to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const d of datas) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

/** What {@link loadSafetensors} reads: the tree, the metadata, and the tensors it converted. @category IO */
export interface Loaded {
  /** Dotted names as nested objects (`conv1.weight` is `params.conv1.weight`). */
  params: Record<string, any>;
  metadata: Record<string, string>;
  /** Tensors stored in a dtype Fluxion does not hold, by name: `'F16 -> float32'`, `'I64 -> int32'`. */
  converted: Record<string, string>;
}

/**
 * Reads safetensors bytes into a nested tree (dotted names become nested objects). F16, BF16,
 * F64, I64, I16, U16, I8 and U8 tensors are read into float32 or int32 (F64 rounds; I64 values
 * must fit in int32) and listed in `converted`. Corrupt input gets a ValueError naming the bad
 * field; names never reach object prototypes.
 * @example const { params, converted } = io.loadSafetensors(bytes);
 * @category IO
 */
export function loadSafetensors(bytes: Uint8Array): Loaded {
  if (bytes.length < 8) throw new ValueError('loadSafetensors: file shorter than its 8-byte header length');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > bytes.length)
    throw new ValueError(`loadSafetensors: header length ${n} exceeds the file size ${bytes.length}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new ValueError(`loadSafetensors: header is not valid JSON (${(e as Error).message})`);
  }
  const header = Header.decode(raw);
  if (isLeft(header)) throw new ValueError('loadSafetensors: header must be a JSON object');
  const dataStart = 8 + n;
  const dataBytes = bytes.length - dataStart;
  // Trees are built on prototype-free objects, and the data must be covered exactly once.
  const params: Record<string, any> = Object.create(null);
  let metadata: Record<string, string> = {};
  const converted: Record<string, string> = Object.create(null);
  const spans: [number, number, string][] = [];
  const leafAt = new Set<string>();
  for (const [name, value] of Object.entries(header.right)) {
    if (name === '__metadata__') {
      const m = Metadata.decode(value);
      if (isLeft(m)) throw new ValueError('loadSafetensors: __metadata__ must map strings to strings');
      metadata = m.right;
      continue;
    }
    const info = TensorInfo.decode(value);
    if (isLeft(info)) {
      const e = info.left[0];
      throw new ValueError(
        `loadSafetensors: tensor '${name.slice(0, 80)}' field '${e.context
          .map((c) => c.key)
          .filter(Boolean)
          .join('.')}' is invalid: ${JSON.stringify(e.value).slice(0, 80)}`,
      );
    }
    const {
      dtype: code,
      shape,
      data_offsets: [begin, end],
    } = info.right;
    const wide = widened[code];
    const dtype = wide?.dtype ?? codes[code];
    const elementBytes = wide?.bytes ?? byteSize(dtype);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new ValueError(
        `loadSafetensors: tensor '${name}' has shape [${shape.slice(0, 8)}], not non-negative integers`,
      );
    const size = shape.reduce((a, b) => a * b, 1);
    if (
      !Number.isSafeInteger(begin) ||
      !Number.isSafeInteger(end) ||
      begin < 0 ||
      end - begin !== size * elementBytes ||
      end > dataBytes
    ) {
      throw new ValueError(
        `loadSafetensors: tensor '${name}' of shape [${shape}] ${code} has data_offsets [${begin}, ${end}] that do ` +
          `not fit (file data is ${dataBytes} bytes)`,
      );
    }
    spans.push([begin, end, name]);
    const path = segments('loadSafetensors', name);
    let node = params;
    for (let k = 0; k < path.length - 1; k++) {
      const prefix = path.slice(0, k + 1).join('.');
      if (leafAt.has(prefix)) throw new ValueError(`loadSafetensors: tensor '${prefix}' is also a prefix of '${name}'`);
      node = node[path[k]] ??= Object.create(null);
    }
    const last = path[path.length - 1];
    if (last in node) throw new ValueError(`loadSafetensors: '${name}' names both a tensor and a group of tensors`);
    leafAt.add(name);
    const data = allocate(dtype, size);
    if (wide) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin);
      for (let i = 0; i < size; i++) data[i] = wide.read(view, i * wide.bytes);
      if ((code as string) === 'I64' && data.some((v, i) => v !== Number(view.getBigInt64(i * 8, true))))
        throw new ValueError(`loadSafetensors: tensor '${name}' (I64) holds values outside int32's range`);
      converted[name] = `${code} -> ${dtype}`;
    } else new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    node[last] = new ConcreteArray(data, shape, dtype);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at)
      throw new ValueError(
        `loadSafetensors: tensor '${name}' starts at byte ${begin}, but the data before it ends at ${at} ` +
          `(${begin < at ? 'overlap' : 'a hole'})`,
      );
    at = end;
  }
  if (at !== dataBytes)
    throw new ValueError(`loadSafetensors: ${dataBytes - at} bytes after the last tensor are not part of any tensor`);
  return { params, metadata, converted };
}
