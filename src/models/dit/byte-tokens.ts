/**
 * The input format of the Aquarius `SmallTextEncoder`: a prompt's UTF-8 bytes are its token ids (vocabulary 256),
 * truncated or padded with 0 to a fixed length L, with a keep mask (1 on real bytes, 0 on padding).
 */
import { fromArray } from '../../tensor/creation.js';
import type { Tensor } from '../../tensor/tensor.js';

/** Byte ids [B, L] (i32) and keep mask [B, L] (f32) for prompts. */
export function tokenize(prompts: readonly string[], L: number): { ids: Tensor; mask: Tensor } {
  const ids = new Int32Array(prompts.length * L);
  const mask = new Float32Array(prompts.length * L);
  prompts.forEach((p, b) => {
    const bytes = Buffer.from(p, 'utf8').subarray(0, L);
    bytes.forEach((v, i) => {
      ids[b * L + i] = v;
      mask[b * L + i] = 1;
    });
  });
  return { ids: fromArray(ids, [prompts.length, L], { dtype: 'i32' }), mask: fromArray(mask, [prompts.length, L]) };
}
