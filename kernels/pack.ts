/**
 * Packing kernels: arrays of 16- and 8-bit dtypes are kept two or four elements to a 32-bit word
 * (float16 and bfloat16 as their bit patterns), while kernels compute on one word per element
 * (f32 for the floats, i32 for the integers). `unpack` spreads a packed buffer into words,
 * `pack` gathers words back. Conversions are done in bits, exactly: words hold values already
 * rounded to their dtype, and every float16 is an f32 (no built-in whose subnormal handling
 * the implementation may choose).
 * @module
 */
import { type DType, byteSize } from '../src/core/dtype.js';
import { entry, storageType } from './wgsl.js';

/** Elements per 32-bit word of a packed dtype (1 for the 32-bit ones and bool). */
export const perWord = (d: DType): number => (d === 'bool' ? 1 : 4 / byteSize(d));

const helpers = /* wgsl */ `
fn f16_value(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(bitcast<u32>(ldexp(f32(m), -24)) | s); }
  if (e == 31u) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let s = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return s | 0x7e00u | ((a >> 13u) & 0x3ffu); }
  if (a >= 0x47800000u) { return s | 0x7c00u; }
  if (a < 0x38800000u) { return s | u32(ldexp(bitcast<f32>(a), 24)); }
  return s | ((a - 0x38000000u) >> 13u);
}
fn bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; }
  return b >> 16u;
}
`;

/** Field `k` (an 8- or 16-bit slot) of packed word `w`, as a compute value of dtype `d`. */
function field(d: DType, w: string, k: string): string {
  switch (d) {
    case 'float16':
      return `f16_value((${w} >> (${k} * 16u)) & 0xffffu)`;
    case 'bfloat16':
      return `bitcast<f32>(((${w} >> (${k} * 16u)) & 0xffffu) << 16u)`;
    case 'int16':
      return `(bitcast<i32>(${w} << (16u - ${k} * 16u)) >> 16u)`;
    case 'uint16':
      return `i32((${w} >> (${k} * 16u)) & 0xffffu)`;
    case 'int8':
      return `(bitcast<i32>(${w} << (24u - ${k} * 8u)) >> 24u)`;
    case 'uint8':
      return `i32((${w} >> (${k} * 8u)) & 0xffu)`;
  }
  throw new Error(`pack: ${d} is not a packed dtype`);
}
/** A word's bits for one compute value of dtype `d`, in the low 8 or 16 bits. */
function bitsOf(d: DType, v: string): string {
  if (d === 'float16') return `f16_bits(${v})`;
  if (d === 'bfloat16') return `bf16_bits(${v})`;
  return `(bitcast<u32>(${v}) & ${byteSize(d) === 2 ? '0xffffu' : '0xffu'})`;
}

const bindings = (from: string, to: string) => /* wgsl */ `
@group(0) @binding(0) var<storage, read> in0: array<${from}>;
@group(0) @binding(1) var<storage, read_write> out0: array<${to}>;`;

/** WGSL spreading `n` packed elements of dtype `d` into words (one invocation per element). */
export function unpackKernel(d: DType, n: number): string {
  const per = perWord(d);
  const body = `  out0[i] = ${field(d, `in0[i / ${per}u]`, `(i % ${per}u)`)};`;
  return `${helpers}${bindings('u32', storageType(d))}${entry(body, n)}`;
}

/** WGSL packing `n` word elements of dtype `d` (one invocation per packed word). */
export function packKernel(d: DType, n: number): string {
  const per = perWord(d),
    width = 32 / per;
  const words = Math.ceil(n / per);
  const body = [
    `  var word = 0u;`,
    `  for (var k = 0u; k < ${per}u; k++) {`,
    `    let j = i * ${per}u + k;`,
    `    if (j < ${n}u) { word = word | (${bitsOf(d, 'in0[j]')} << (k * ${width}u)); }`,
    `  }`,
    `  out0[i] = word;`,
  ].join('\n');
  return `${helpers}${bindings(storageType(d), 'u32')}${entry(body, words)}`;
}
