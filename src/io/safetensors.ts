/**
 * Parameter trees to and from the safetensors format: an 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets}}`, then the raw little-endian data.
 * Tree paths become dotted names (`conv1.weight`); the header is validated with io-ts.
 * @module
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { Array as ArrayClass, ConcreteArray } from '../core/array.js';
import { type DType, allocateStorage, byteSize, isFloat, toStorage } from '../core/dtype.js';
import { checkOptions, codecs } from '../core/options.js';
import { ValueError } from '../core/errors.js';
import { flatten, leafPaths } from '../tree.js';

const codes: Record<string, DType> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U32: 'uint32',
  U16: 'uint16',
  U8: 'uint8',
  BOOL: 'bool',
};
const names = Object.fromEntries(Object.entries(codes).map(([k, v]) => [v, k]));
/** 64-bit integers are outside the array model: read as int32 when every value fits. */
const INT64 = 'I64';

const TensorInfo = t.strict({
  dtype: t.keyof({ ...Object.fromEntries(Object.keys(codes).map((k) => [k, null])), [INT64]: null }),
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
    const c = leaf.toConcrete();
    const data = c ? c.storage : toStorage(leaf.dtype, leaf.dataSync());
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
  /** Tensors read into another dtype, by name: `'I64 -> int32'`, or `'F16 -> float32'` when asked. */
  converted: Record<string, string>;
}

/** Options of {@link loadSafetensors}. @category IO */
export interface LoadOptions {
  /** Reads every float tensor as this float dtype (integer and bool tensors stay as stored). */
  dtype?: DType;
}

/**
 * Reads safetensors bytes into a nested tree (dotted names become nested objects). Every tensor
 * keeps its stored dtype (F16 is float16, BF16 bfloat16, U8 uint8), except I64, read as int32 when
 * its values fit; `{ dtype }` converts float tensors on load. Conversions are listed in
 * `converted`. Corrupt input gets a ValueError naming the bad field; names never reach object
 * prototypes.
 * @example const { params, converted } = io.loadSafetensors(bytes);
 * @example const { params } = io.loadSafetensors(bytes, { dtype: 'float32' }); // float16 weights read as float32
 * @category IO
 */
export function loadSafetensors(bytes: Uint8Array, opts: LoadOptions = {}): Loaded {
  const { dtype: floatTo } = checkOptions('loadSafetensors', { dtype: codecs.dtype }, opts);
  if (floatTo && !isFloat(floatTo))
    throw new ValueError(`loadSafetensors: dtype must be a float dtype (float tensors convert), got ${floatTo}`);
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
    const stored: DType = code === INT64 ? 'int32' : codes[code];
    const elementBytes = code === INT64 ? 8 : byteSize(stored);
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
    const data = allocateStorage(stored, size);
    if (code === INT64) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin);
      for (let i = 0; i < size; i++) data[i] = Number(view.getBigInt64(i * 8, true));
      if (data.some((v, i) => v !== Number(view.getBigInt64(i * 8, true))))
        throw new ValueError(`loadSafetensors: tensor '${name}' (I64) holds values outside int32's range`);
      converted[name] = `${code} -> int32`;
    } else new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    const x = new ConcreteArray(data, shape, stored);
    const to = floatTo && isFloat(stored) && stored !== floatTo ? floatTo : undefined;
    if (to) converted[name] = `${code} -> ${to}`;
    node[last] = to ? x.astype(to) : x;
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
