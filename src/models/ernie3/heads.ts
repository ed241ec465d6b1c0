/**
 * Ernie3ForPreTraining: the ERNIE 3.0 backbone plus the heads of its five pre-training tasks, each with its loss.
 *   NLU module → mlm_head (Linear dt → V) for the knowledge-masked LM and universal knowledge-text prediction;
 *                [CLS] (position 0) → reorder_head (Σ_{n≤m} n! classes) and distance_head (3 classes)
 *   NLG module → lm_head (Linear dt → V) for document LM, segment after segment with the recurrence memory (and
 *                the generative knowledge-text extension, one segment)
 * (Task ↔ module follows §3.2 of the paper: word- and knowledge-aware MLM tasks and the structure-aware tasks are
 * understanding tasks; document LM is the generation task.) Losses are mean cross-entropies over non-ignored targets.
 */
import { Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { crossEntropy } from '../../tensor/ops/nn.js';
import { fromArray } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { reorderClasses, type Ernie3Config } from './config.js';
import { Ernie3Model, type Ernie3Memory } from './model.js';
import type { Batch } from './pretrain-data.js';

export class Ernie3ForPreTraining extends Module {
  ernie: Ernie3Model;
  mlm_head: Linear;
  lm_head: Linear;
  reorder_head: Linear;
  distance_head: Linear;

  constructor(config: string | Partial<Ernie3Config> = 'ernie3-tiny', { generator }: { generator?: Generator } = {}) {
    super();
    this.ernie = new Ernie3Model(config, { generator });
    const c = this.ernie.config;
    const init = { std: c.initializer_range, generator };
    this.mlm_head = new Linear(c.nlu.hidden_size, c.vocab_size, init);
    this.lm_head = new Linear(c.nlg.hidden_size, c.vocab_size, init);
    this.reorder_head = new Linear(c.nlu.hidden_size, reorderClasses(c.reorder_max_segments), init);
    this.distance_head = new Linear(c.nlu.hidden_size, 3, init);
  }

  get config(): Ernie3Config {
    return this.ernie.config;
  }

  private nlu(b: Batch): Tensor {
    return this.ernie.forwardNlu(b.inputIds, { tokenTypeIds: b.tokenTypeIds, attentionMask: b.attentionMask }); // [B, T, dt]
  }

  /** Token-level MLM loss (knowledge-masked LM, universal knowledge-text prediction): batch.labels [B, T]. */
  maskedLmLoss(b: Batch): Tensor {
    return this.maskedLm(b).loss;
  }

  /** The MLM loss and its logits [B, T, V]. */
  maskedLm(b: Batch): { loss: Tensor; logits: Tensor } {
    const logits = this.mlm_head.forward(this.nlu(b)); // [B, T, V]
    return { loss: crossEntropy(logits.reshape(-1, this.config.vocab_size), b.labels!.reshape(-1)), logits };
  }

  /** Classification from [CLS]: the sentence-reordering or sentence-distance head against batch.label [B]. */
  classificationLoss(b: Batch, task: 'reorder' | 'distance'): { loss: Tensor; logits: Tensor } {
    const cls = this.nlu(b).select(1, 0); // [B, dt]
    const logits = (task === 'reorder' ? this.reorder_head : this.distance_head).forward(cls);
    return { loss: crossEntropy(logits, b.label!), logits };
  }

  /** Document LM over one segment: ids [B, T], next-token labels [B, T]; returns the memory for the next segment. */
  documentLmLoss(ids: Tensor, labels: Tensor, memory: Ernie3Memory | null): { loss: Tensor; logits: Tensor; memory: Ernie3Memory } {
    const r = this.ernie.forwardNlg(ids, memory);
    const logits = this.lm_head.forward(r.hidden); // [B, T, V]
    return { loss: crossEntropy(logits.reshape(-1, this.config.vocab_size), labels.reshape(-1)), logits, memory: r.memory };
  }
}

/**
 * Fine-tuning the NLU module for classification (§4 of the paper: NLU fine-tuning): `classifier` (Linear dt → n)
 * over the NLU output at [CLS] (position 0), e.g. of "[CLS] head [SEP] tail [SEP]" for relation classification.
 * `ernie` carries the pre-trained backbone's names (`ernie.*`), so a pre-training checkpoint's backbone loads as is.
 */
export class Ernie3ForSequenceClassification extends Module {
  ernie: Ernie3Model;
  classifier: Linear;
  constructor(config: string | Partial<Ernie3Config>, readonly numLabels: number, { generator }: { generator?: Generator } = {}) {
    super();
    this.ernie = new Ernie3Model(config, { generator });
    this.classifier = new Linear(this.ernie.config.nlu.hidden_size, numLabels, { std: this.ernie.config.initializer_range, generator });
  }

  /** Logits [B, numLabels] of a batch (input ids, token types, attention mask). */
  forward(b: Batch): Tensor {
    const h = this.ernie.forwardNlu(b.inputIds, { tokenTypeIds: b.tokenTypeIds, attentionMask: b.attentionMask }); // [B, T, dt]
    return this.classifier.forward(h.select(1, 0));
  }
}

/** A [1, T] i32 tensor of ids. */
export function idsTensor(xs: number[]): Tensor {
  return fromArray(Int32Array.from(xs), [1, xs.length], { dtype: 'i32' });
}
