/**
 * The one error type Kiln throws. `code` is stable (scripts may switch on it); the message says what was wrong,
 * where, and how to fix it.
 */
export type KilnErrorCode =
  | 'E_SHAPE' // shapes do not match / cannot broadcast / bad view
  | 'E_DTYPE' // dtype not supported by an op or conversion
  | 'E_ARG' // a bad argument (axis out of range, negative size, ...)
  | 'E_DISPOSED' // a tensor was used after dispose()
  | 'E_AUTOGRAD' // backward() misuse
  | 'E_FORMAT' // malformed file (safetensors, config, index)
  | 'E_IO' // file-system error
  | 'E_CHECKPOINT' // missing / extra / mis-shaped tensors in a checkpoint
  | 'E_CONFIG' // invalid model or pipeline config
  | 'E_NATIVE' // native addon problem
  | 'E_DATAPIPE'; // data pipeline graph / executor error

export class KilnError extends Error {
  readonly code: KilnErrorCode;
  constructor(code: KilnErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KilnError';
    this.code = code;
  }
}
