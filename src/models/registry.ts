/**
 * The model families Kiln knows, keyed by Hugging Face `model_type`. Adding a family is one folder under
 * src/models/ and one entry here; `kiln info` and config loading go through this list.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.js';
import { GPT_PRESETS, gptConfig, gptParamCount, gptTrainFlopsPerToken } from './gpt/config.js';
import { DEEPSEEK_V3_PRESETS, deepseekV3Config, modelInfo as deepseekInfo } from './deepseek-v3/config.js';
import { ernie3Family, ernieFamily } from './ernie3/family.js';
import { causalVaeFamily, mmDitFamily, singleDitFamily } from './dit/family.js';

export interface ModelFamily {
  /** Hugging Face model_type. */
  modelType: string;
  presets: readonly string[];
  /** Accounting of a preset name or a parsed config.json: params_total first, then what the family defines. */
  info(config: string | Record<string, unknown>): Record<string, number | string>;
}

export const MODEL_FAMILIES: readonly ModelFamily[] = [
  {
    modelType: 'kiln-gpt',
    presets: Object.keys(GPT_PRESETS),
    info(src) {
      const c = gptConfig(src as string);
      return { params_total: gptParamCount(c), train_flops_per_token: gptTrainFlopsPerToken(c, c.max_position_embeddings) };
    },
  },
  {
    modelType: 'deepseek_v3',
    presets: Object.keys(DEEPSEEK_V3_PRESETS),
    info: (src) => deepseekInfo(deepseekV3Config(src)),
  },
  ernieFamily,
  ernie3Family,
  singleDitFamily,
  mmDitFamily,
  causalVaeFamily,
];

/** Resolves a preset name, a config.json path or a checkpoint directory to its family and config source. */
export function resolveModel(ref: string): { family: ModelFamily; config: string | Record<string, unknown> } {
  for (const family of MODEL_FAMILIES) if (family.presets.includes(ref)) return { family, config: ref };
  let path = ref;
  try {
    if (statSync(ref).isDirectory()) path = join(ref, 'config.json');
  } catch {
    const known = MODEL_FAMILIES.flatMap((f) => f.presets).join(', ');
    throw new KilnError('E_CONFIG', `'${ref}' is neither a preset (${known}) nor a config.json or checkpoint directory`);
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new KilnError('E_CONFIG', `cannot read model config ${path}: ${(e as Error).message}`);
  }
  const family = MODEL_FAMILIES.find((f) => f.modelType === config.model_type);
  if (!family)
    throw new KilnError('E_CONFIG', `${path}: model_type '${String(config.model_type)}' is not one Kiln knows (${MODEL_FAMILIES.map((f) => f.modelType).join(', ')})`);
  return { family, config };
}
