/**
 * DeepSeek-V3's RoPE/YaRN settings as HF transformers computes them (`_compute_yarn_parameters`,
 * `yarn_apply_mscale`), on top of the engine's `ropeFrequencies`:
 * - cos/sin tables over qk_rope_head_dim, scaled by attention_factor = get_mscale(factor, mscale) /
 *   get_mscale(factor, mscale_all_dim) when both are non-zero, else get_mscale(factor);
 * - the softmax scale (n + p)^−½, × get_mscale(factor, mscale_all_dim)² when mscale_all_dim ≠ 0.
 * `RopeCache` keeps the tables for positions 0 … N − 1 and grows them (doubling) on demand.
 */
import { ropeFrequencies, yarnGetMscale, type YarnOptions } from '../../tensor/ops/rope.js';
import { keep } from '../../tensor/scope.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { DeepseekV3Config } from './config.js';

export function yarnOptions(c: DeepseekV3Config): YarnOptions | undefined {
  const y = c.rope_scaling;
  if (!y) return undefined;
  const both = y.mscale !== 0 && y.mscale_all_dim !== 0;
  return {
    factor: y.factor, originalMaxPositionEmbeddings: y.original_max_position_embeddings, betaFast: y.beta_fast, betaSlow: y.beta_slow,
    mscale: both ? y.mscale : 1, mscaleAllDim: both ? y.mscale_all_dim : 0,
  };
}

export function softmaxScale(c: DeepseekV3Config): number {
  let s = 1 / Math.sqrt(c.qk_nope_head_dim + c.qk_rope_head_dim);
  const y = c.rope_scaling;
  if (y && y.mscale_all_dim) {
    const m = yarnGetMscale(y.factor, y.mscale_all_dim);
    s *= m * m;
  }
  return s;
}

export class RopeCache {
  private cos: Tensor | null = null;
  private sin: Tensor | null = null;
  private rows = 0;
  constructor(private readonly c: DeepseekV3Config) {}

  /** cos/sin [T, p/2] for positions start … start + T − 1 (views of the kept tables). */
  tables(start: number, T: number): { cos: Tensor; sin: Tensor } {
    if (start + T > this.rows) {
      let n = Math.max(64, this.rows);
      while (n < start + T) n *= 2;
      this.dispose();
      const t = ropeFrequencies(this.c.qk_rope_head_dim, this.c.rope_theta, n, { yarn: yarnOptions(this.c) });
      this.cos = keep(t.cos);
      this.sin = keep(t.sin);
      this.rows = n;
    }
    return { cos: this.cos!.slice(0, start, start + T), sin: this.sin!.slice(0, start, start + T) };
  }

  dispose(): void {
    this.cos?.dispose();
    this.sin?.dispose();
    this.cos = this.sin = null;
    this.rows = 0;
  }
}
