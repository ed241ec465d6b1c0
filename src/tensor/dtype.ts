/**
 * Storage dtypes. Compute is f32 (floats) or i32 (indices); the other float dtypes are storage formats that
 * convert exactly (round-to-nearest-even, OCP FP8 saturation) through src/tensor/convert.ts.
 */
export type DType = 'f32' | 'bf16' | 'f16' | 'f8e4m3' | 'f8e5m2' | 'i32' | 'i64' | 'u8' | 'bool';

export const DTYPES: readonly DType[] = ['f32', 'bf16', 'f16', 'f8e4m3', 'f8e5m2', 'i32', 'i64', 'u8', 'bool'];

export const DTYPE_BYTES: Record<DType, number> = {
  f32: 4, bf16: 2, f16: 2, f8e4m3: 1, f8e5m2: 1, i32: 4, i64: 8, u8: 1, bool: 1,
};

/** The typed array that holds each dtype's storage. */
export type StorageArray = Float32Array | Uint16Array | Uint8Array | Int32Array | BigInt64Array;

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'bf16' || d === 'f16' || d === 'f8e4m3' || d === 'f8e5m2';
}

/** A typed array of `length` elements of dtype `d` over `buffer` (which may be a SharedArrayBuffer). */
export function typedArray(d: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): StorageArray {
  switch (d) {
    case 'f32': return new Float32Array(buffer, byteOffset, length);
    case 'bf16': case 'f16': return new Uint16Array(buffer, byteOffset, length);
    case 'f8e4m3': case 'f8e5m2': case 'u8': case 'bool': return new Uint8Array(buffer, byteOffset, length);
    case 'i32': return new Int32Array(buffer, byteOffset, length);
    case 'i64': return new BigInt64Array(buffer, byteOffset, length);
  }
}
