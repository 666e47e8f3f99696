/**
 * glibc's allocator, set for a process that frees and allocates large buffers every step.
 * @module
 */

/** `mallopt` parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** The largest mmap threshold glibc accepts on 64-bit systems. */
const MMAP_THRESHOLD_MAX = 32 << 20;
/** Free memory at the top of the heap kept for reuse rather than returned to the system. */
const TRIM_THRESHOLD = 1 << 30;

let tuned: boolean | undefined;

/**
 * Makes glibc reuse freed blocks of up to 32 MiB instead of unmapping them. By default glibc maps
 * each block over 128 KiB afresh and unmaps it when freed, raising that bar only as such blocks are
 * freed: every training step's outputs (new parameters and optimiser state, buffers that
 * onnxruntime-node allocates for each run) then fault in page by page until it has adapted.
 * ResNet-18's second Adam step took 31,917 page faults and 450 ms, its seventh none and 140 ms.
 * Importing Fluxion runs it (once), on Linux with glibc and the optional `koffi`;
 * `FLUXION_MALLOC=system` leaves the allocator as it is. Returns whether the thresholds are set.
 */
export function keepFreedMemory(): boolean {
  if (tuned !== undefined) return tuned;
  tuned = false;
  if (typeof process === 'undefined' || process.platform !== 'linux' || process.env?.FLUXION_MALLOC === 'system')
    return tuned;
  try {
    const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module');
    const koffi = createRequire(import.meta.url)('koffi');
    const mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)');
    tuned = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) === 1 && mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) === 1;
  } catch {
    // No koffi, or a C library other than glibc (musl has no mallopt): its own behaviour stands.
  }
  return tuned;
}
