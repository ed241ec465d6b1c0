/**
 * The ERNIE entries for src/models/registry.ts's MODEL_FAMILIES (structurally `ModelFamily`; declared here so the
 * registry adds them with one line each and this folder does not import the registry):
 * - `ernieFamily` — HF `model_type: ernie` (the released ERNIE 3.0 small models): params_total of ErnieModel with
 *   its pooler, plus the embedding / encoder split;
 * - `ernie3Family` — the ERNIE 3.0 architecture presets (`ernie3-10b`, `ernie3-tiny`, `ernie3-micro`):
 *   ernie3ParamCounts (params_total, per module, and the pre-training heads separately).
 */
import { ERNIE3_PRESETS, ernie3Config, ernie3ParamCounts, type Ernie3Config } from './config.js';
import { ERNIE_PRESETS, ernieConfig, ernieParamCount } from './hf-config.js';

export const ernieFamily = {
  modelType: 'ernie',
  presets: Object.keys(ERNIE_PRESETS) as readonly string[],
  info(src: string | Record<string, unknown>): Record<string, number | string> {
    const c = ernieConfig(src);
    const total = ernieParamCount(c);
    const emb = ernieParamCount({ ...c, num_hidden_layers: 0 }, { pooler: false });
    return { params_total: total, params_embeddings: emb, params_encoder: total - emb - (c.hidden_size * c.hidden_size + c.hidden_size), params_pooler: c.hidden_size * c.hidden_size + c.hidden_size };
  },
};

export const ernie3Family = {
  modelType: 'ernie3',
  presets: Object.keys(ERNIE3_PRESETS) as readonly string[],
  info(src: string | Record<string, unknown>): Record<string, number | string> {
    const o = typeof src === 'string' ? src : (({ model_type: _drop, ...rest }) => rest as Partial<Ernie3Config>)(src);
    return { ...ernie3ParamCounts(ernie3Config(o)) };
  },
};
