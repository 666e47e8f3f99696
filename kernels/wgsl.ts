/**
 * WGSL building blocks shared by the emitters: dtype names, loads and stores (bool lives in
 * u32), and helper functions WGSL lacks or gets wrong for our semantics (erf, log1p, a
 * tanh that does not overflow, pow of negative bases, NaN-propagating max/min, the
 * threefry2x32 block). WGSL pitfalls: `select(f, t, cond)` takes the false value first;
 * there is no infinity literal (use bitcast); `x != x` is not a reliable NaN test (check bits).
 * @module
 */
import { type DType, coerce, computeDType } from '../src/core/dtype.js';
import { DTypeError } from '../src/core/errors.js';

/**
 * WGSL type of a value in registers and in storage buffers: float16 and bfloat16 live in f32 and
 * the small integers in i32 (their compute dtype), each operation's result rounded back by {@link round}.
 */
export function valueType(d: DType): string {
  const c = computeDType(d);
  if (c === 'float64') throw new DTypeError('webgpu: float64 has no WGSL type');
  return c === 'float32' ? 'f32' : c === 'int32' ? 'i32' : c === 'uint32' ? 'u32' : 'bool';
}
/** WGSL type of an element in a storage buffer (bool is stored as u32). */
export const storageType = (d: DType): string => (d === 'bool' ? 'u32' : valueType(d));
/** Reads `buf[idx]` as a register value. */
export const load = (buf: string, idx: string, d: DType): string =>
  d === 'bool' ? `(${buf}[${idx}] != 0u)` : `${buf}[${idx}]`;
/** Converts a register value for storing (rounded to its dtype). */
export const store = (v: string, d: DType): string => (d === 'bool' ? `select(0u, 1u, ${v})` : round(v, d));

const ROUND: Partial<Record<DType, (v: string) => string>> = {
  float16: (v) => `round_f16(${v})`,
  bfloat16: (v) => `round_bf16(${v})`,
  int16: (v) => `((${v} << 16u) >> 16u)`,
  int8: (v) => `((${v} << 24u) >> 24u)`,
  uint16: (v) => `(${v} & 65535i)`,
  uint8: (v) => `(${v} & 255i)`,
};
/** A compute-dtype value rounded (floats) or wrapped (integers) to dtype `d`; other dtypes unchanged. */
export const round = (v: string, d: DType): string => ROUND[d]?.(v) ?? v;

/** A literal of dtype `d` (infinities and NaN through runtime bitcasts). */
export function literal(value: number, dtype: DType): string {
  const d = computeDType(dtype),
    v = coerce(dtype, value);
  if (d === 'bool') return v ? 'true' : 'false';
  // -2147483648i would overflow before negation.
  if (d === 'int32') return (v | 0) === -2147483648 ? '(-2147483647i - 1i)' : `${v | 0}i`;
  if (d === 'uint32') return `${v >>> 0}u`;
  if (Number.isNaN(v)) return 'nan_()';
  if (v === Infinity) return 'inf_()';
  if (v === -Infinity) return '(-inf_())';
  const s = Math.fround(v).toPrecision(9);
  return `f32(${s.includes('e') || s.includes('.') ? s : s + '.0'})`;
}

/** Helper functions, prepended to every module. */
export const prelude = /* wgsl */ `
// Constant expressions may not be NaN or infinite in WGSL: build them from runtime bits.
fn nan_() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
fn inf_() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn isnan_(x: f32) -> bool {
  let b = bitcast<u32>(x);
  return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u;
}
fn isfinite_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// Rounding to float16 and bfloat16, to nearest even, in bits (quantizeToF16 leaves the rounding
// direction and overflow to the implementation): what the CPU kernels give.
fn round_f16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let a = b & 0x7fffffffu;
  if (a >= 0x7f800000u) { return x; }
  if (a >= 0x477ff000u) { return bitcast<f32>((b & 0x80000000u) | 0x7f800000u); }
  // Subnormals: multiples of 2^-24; the sign from the bits (sign(-0.0) is 0, losing it).
  if (a < 0x38800000u) { return bitcast<f32>((b & 0x80000000u) | bitcast<u32>(round(abs(x) * 16777216.0) / 16777216.0)); }
  return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
}
fn round_bf16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  if (isnan_(x)) { return x; }
  return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);
}
fn max_(a: f32, b: f32) -> f32 { if (isnan_(a) || a > b) { return a; } return b; }
fn min_(a: f32, b: f32) -> f32 { if (isnan_(a) || a < b) { return a; } return b; }
fn tanh_(x: f32) -> f32 { if (abs(x) > 15.0) { return sign(x); } let e = exp(2.0 * x); return (e - 1.0) / (e + 1.0); }
fn log1p_(x: f32) -> f32 { let u = 1.0 + x; if (u == 1.0) { return x; } return log(u) * x / (u - 1.0); }
fn expm1_(x: f32) -> f32 { if (abs(x) < 1e-5) { return x + 0.5 * x * x; } return exp(x) - 1.0; }
fn pow_(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0 || (x == -1.0 && !isfinite_(y) && !isnan_(y))) { return 1.0; }
  if (x >= 0.0) { return pow(x, y); }
  if (floor(y) != y) { return nan_(); }
  let m = pow(-x, y);
  if (fract(y * 0.5) != 0.0) { return -m; }
  return m;
}
fn erf_(x: f32) -> f32 {
  // Abramowitz-Stegun 7.1.26 is too coarse near 0; use a series there and the rational form beyond.
  let a = abs(x);
  if (a < 0.5) {
    let x2 = x * x;
    return 1.1283791671 * x * (1.0 - x2 / 3.0 + x2 * x2 / 10.0 - x2 * x2 * x2 / 42.0 + x2 * x2 * x2 * x2 / 216.0);
  }
  let t = 1.0 / (1.0 + 0.5 * a);
  let y = 1.0 - t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
    + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223
    + t * 0.17087277)))))))));
  return sign(x) * y;
}
fn erfinv_(x: f32) -> f32 {
  var w = -log((1.0 - x) * (1.0 + x));
  var p: f32;
  if (w < 5.0) {
    w = w - 2.5;
    p = 2.81022636e-08; p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w; p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w; p = -0.00417768164 + p * w; p = 0.246640727 + p * w; p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3.0;
    p = -0.000200214257; p = 0.000100950558 + p * w; p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w; p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w; p = 0.00943887047 + p * w; p = 1.00167406 + p * w; p = 2.83297682 + p * w;
  }
  return p * x;
}
fn rotl_(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }
fn threefry_(k0: u32, k1: u32, x0: u32, x1: u32) -> vec2u {
  let ks = array<u32, 3>(k0, k1, k0 ^ k1 ^ 0x1bd11bdau);
  let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var a = x0 + ks[0];
  var b = x1 + ks[1];
  for (var i = 0u; i < 5u; i++) {
    for (var j = 0u; j < 4u; j++) { a = a + b; b = rotl_(b, rot[(i % 2u) * 4u + j]); b = b ^ a; }
    a = a + ks[(i + 1u) % 3u];
    b = b + ks[(i + 2u) % 3u] + i + 1u;
  }
  return vec2u(a, b);
}
`;

/** Entry point header: one invocation per element, 2-D dispatch past 65535 workgroups. */
export const WORKGROUP = 64;
export const entry = (body: string, n: number): string => /* wgsl */ `
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP}u;
  if (i >= ${n}u) { return; }
${body}
}`;
