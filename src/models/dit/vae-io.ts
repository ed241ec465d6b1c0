/**
 * Saving and loading a trained Aquarius causal VAE as a diffusers-style directory:
 *   config.json                           the `VaeConfig` (diffusers `AutoencoderKL…` key names) plus
 *                                         `_class_name: 'AquariusCausalVae3d'` and `model_type: 'aquarius_causal_vae'`
 *                                         (so `kiln info <dir>` finds the family);
 *   diffusion_pytorch_model.safetensors   every parameter, f32, named by the module tree
 *                                         (`encoder.down_blocks.0.resnets.0.conv1.conv.weight`, …).
 * The class name is Kiln's own on purpose: the names follow diffusers' HunyuanVideo VAE (the mid-block attention's
 * too, with `mid_block_add_attention`), but the computation differs — GroupNorm statistics per frame, a frame-causal
 * attention mask, optionally no normalisation and residual shortcuts — so claiming `AutoencoderKLHunyuanVideo`
 * would load into a model that computes something else.
 * Round trip is bit-exact (f32 in, f32 out). Both files are written to a temporary name and renamed into place.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../errors.js';
import { loadModelWeights, readConfig, toRaw } from '../../io/checkpoint.js';
import { writeSafetensors, type RawTensor } from '../../io/safetensors.js';
import { VAE_DEFAULTS, vaeConfig, type VaeConfig } from './vae-config.js';
import { CausalVae3d } from './vae.js';

export const VAE_CLASS_NAME = 'AquariusCausalVae3d';
export const VAE_MODEL_TYPE = 'aquarius_causal_vae';
export const VAE_WEIGHTS_FILE = 'diffusion_pytorch_model.safetensors';

/** Writes `dir/config.json` and `dir/diffusion_pytorch_model.safetensors` (dir created if needed). */
export function saveVae(vae: CausalVae3d, dir: string, metadata: Record<string, string> = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of vae.stateDict()) tensors.set(name, toRaw(t)); // parameters are contiguous
  const wTmp = join(dir, `${VAE_WEIGHTS_FILE}.tmp`);
  writeSafetensors(wTmp, tensors, { format: 'pt', ...metadata });
  renameSync(wTmp, join(dir, VAE_WEIGHTS_FILE));
  const config = { _class_name: VAE_CLASS_NAME, model_type: VAE_MODEL_TYPE, ...vae.config };
  const cTmp = join(dir, 'config.json.tmp');
  writeFileSync(cTmp, JSON.stringify(config, null, 2) + '\n');
  renameSync(cTmp, join(dir, 'config.json'));
}

/** The `VaeConfig` of a saved directory's config.json (unknown keys are an error; `_…` and model_type are skipped). */
export function readVaeConfig(dir: string): VaeConfig {
  const raw = readConfig(dir);
  const known = new Set(Object.keys(VAE_DEFAULTS));
  const o: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(raw)) {
    if (key.startsWith('_') || key === 'model_type') continue;
    if (!known.has(key))
      throw new KilnError('E_CONFIG', `${join(dir, 'config.json')}: unknown VAE config key '${key}'; known: ${[...known].join(', ')}`);
    o[key] = v;
  }
  if (raw.model_type !== undefined && raw.model_type !== VAE_MODEL_TYPE)
    throw new KilnError('E_CONFIG', `${join(dir, 'config.json')}: model_type '${String(raw.model_type)}' is not a causal VAE ('${VAE_MODEL_TYPE}')`);
  return vaeConfig(o as Partial<VaeConfig>);
}

/** Builds the VAE a directory describes and loads its weights (strict: every name and shape must match). */
export function loadVae(dir: string): CausalVae3d {
  const vae = new CausalVae3d(readVaeConfig(dir));
  try {
    loadModelWeights(vae, dir);
  } catch (e) {
    vae.dispose();
    throw e;
  }
  return vae;
}
