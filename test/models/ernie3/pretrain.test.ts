/**
 * ERNIE 3.0 pre-training tasks on the synthetic knowledge graph: each generator's labels are right (entity/phrase
 * masks cover whole spans; permutation classes decode back; distance labels match provenance; the knowledge-text
 * input masks exactly the relation or whole sentence units), and each task's loss starts near ln(classes) and falls
 * under AdamW on a fixed batch (document LM through the recurrence memory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { syntheticKg, sentenceForTriple, MASK, CLS, SEP } from '../../../src/models/ernie3/synthetic-kg.js';
import {
  IGNORE, classPermutation, collate, documentLmSegments, knowledgeMaskedLm, permutationClass, sentenceDistance, sentenceReordering,
  universalKnowledgeText, type Batch,
} from '../../../src/models/ernie3/pretrain-data.js';
import { Ernie3ForPreTraining, idsTensor } from '../../../src/models/ernie3/heads.js';
import { headParams, reorderClasses, type Ernie3Config } from '../../../src/models/ernie3/config.js';
import { disposeMemory, type Ernie3Memory } from '../../../src/models/ernie3/model.js';

const kg = syntheticKg({ seed: 1 });
const V = kg.vocab.length;

test('knowledge-masked LM: entities and phrases are masked as wholes; labels hold the original ids', () => {
  let entitiesMasked = 0;
  for (let seed = 0; seed < 40; seed++) {
    const gen = new k.Generator(seed);
    const s = kg.documents[seed % kg.documents.length].find((x) => x.spans.length > 0)!;
    const ex = knowledgeMaskedLm(s, gen, { vocabSize: V, rate: 0.3 });
    assert.equal(ex.inputIds[0], CLS);
    assert.equal(ex.inputIds.at(-1), SEP);
    for (const sp of s.spans) {
      const lab = ex.labels!.slice(sp.start + 1, sp.end + 1);
      const n = lab.filter((x) => x !== IGNORE).length;
      assert.ok(n === 0 || n === lab.length, `span ${sp.kind} [${sp.start}, ${sp.end}) partially masked`);
      if (n && sp.kind === 'entity') entitiesMasked++;
    }
    let masked = 0;
    ex.labels!.forEach((l, i) => {
      if (l === IGNORE) return;
      masked++;
      assert.equal(l, s.ids[i - 1]);
    });
    assert.ok(masked >= Math.round(0.3 * s.ids.length));
    // a masked unit is replaced as a whole: all [MASK], or none of it
    for (const u of ex.masked) {
      const seg = ex.inputIds.slice(u.start, u.end);
      const nMask = seg.filter((x) => x === MASK).length;
      assert.ok(nMask === 0 || nMask === seg.length);
    }
  }
  assert.ok(entitiesMasked > 5);
});

test('document LM segments: consecutive, next-token labels, covering the document', () => {
  const doc = kg.documents[0].flatMap((s) => s.ids);
  const segs = documentLmSegments(doc, 5);
  assert.deepEqual(segs.flatMap((s) => s.inputIds), doc.slice(0, -1));
  assert.deepEqual(segs.flatMap((s) => s.labels), doc.slice(1));
  assert.ok(segs.slice(0, -1).every((s) => s.inputIds.length === 5));
});

test('sentence reordering: classes decode back to the permutation; the input is the groups in that order', () => {
  const perms = (n: number): number[][] => (n === 1 ? [[0]] : perms(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])));
  const seen = new Set<number>();
  for (let n = 1; n <= 4; n++) for (const p of perms(n)) {
    const c = permutationClass(p);
    assert.deepEqual(classPermutation(c), p);
    seen.add(c);
  }
  assert.equal(seen.size, reorderClasses(4));
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: reorderClasses(4) }, (_, i) => i));
  for (let seed = 0; seed < 20; seed++) {
    const sents = kg.documents[seed % kg.documents.length].map((s) => s.ids);
    const ex = sentenceReordering(sents, 3, new k.Generator(seed));
    assert.ok(ex.label! < reorderClasses(3));
    assert.deepEqual(classPermutation(ex.label!), ex.perm);
    assert.deepEqual(ex.groups.flat(), sents.flat());
    assert.deepEqual(ex.inputIds, [CLS, ...ex.perm.flatMap((g) => [...ex.groups[g], SEP])]);
  }
});

test('sentence distance: labels match where the second sentence came from', () => {
  const docs = kg.documents.map((d) => d.map((s) => s.ids));
  const counts = [0, 0, 0];
  for (let seed = 0; seed < 60; seed++) {
    const ex = sentenceDistance(docs, new k.Generator(seed));
    counts[ex.label!]++;
    const [d, i] = ex.from;
    const [e, j] = ex.to;
    if (ex.label === 0) assert.ok(d === e && j === i + 1);
    if (ex.label === 1) assert.ok(d === e && Math.abs(j - i) > 1);
    if (ex.label === 2) assert.ok(d !== e);
    assert.deepEqual(ex.inputIds, [CLS, ...docs[d][i], SEP, ...docs[e][j], SEP]);
    assert.equal(ex.tokenTypeIds.filter((x) => x === 1).length, docs[e][j].length + 1);
  }
  assert.ok(counts.every((c) => c > 5));
});

test('universal knowledge-text prediction: the relation is masked whole, or sentence units; both parts typed', () => {
  const parts = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const t = seed % kg.triples.length;
    const s = sentenceForTriple(kg, t);
    if (!s) continue;
    const tr = kg.triples[t];
    const ex = universalKnowledgeText(tr, s, new k.Generator(seed), { vocabSize: V });
    parts.add(ex.maskedPart);
    const nt = tr.head.length + tr.relation.length + tr.tail.length;
    assert.equal(ex.tokenTypeIds.filter((x) => x === 0).length, nt + 2);
    const labelled = ex.labels!.map((l, i) => (l === IGNORE ? -1 : i)).filter((i) => i >= 0);
    if (ex.maskedPart === 'relation') {
      const r0 = 1 + tr.head.length;
      assert.deepEqual(labelled, Array.from({ length: tr.relation.length }, (_, i) => r0 + i));
      assert.deepEqual(labelled.map((i) => ex.labels![i]), tr.relation);
      assert.ok(labelled.every((i) => ex.inputIds[i] === MASK));
    } else assert.ok(labelled.every((i) => i > nt + 1), 'only sentence tokens are masked');
  }
  assert.deepEqual([...parts].sort(), ['relation', 'sentence']);
  assert.throws(() => universalKnowledgeText({ head: [999], relation: [5], tail: [998] }, kg.documents[0][0], new k.Generator(0), { vocabSize: V }), /must mention/);
});

const CONFIG: Partial<Ernie3Config> = {
  vocab_size: V, universal: { num_layers: 1, hidden_size: 32, num_heads: 2, intermediate_size: 64 },
  nlu: { num_layers: 1, hidden_size: 32, num_heads: 2, intermediate_size: 64 }, nlg: { num_layers: 1, hidden_size: 32, num_heads: 2, intermediate_size: 64 },
  max_seq_len: 64, mem_len: 8, hidden_dropout_prob: 0, reorder_max_segments: 3,
};

/** Trains `steps` AdamW steps on loss(); returns [first, last] loss values. */
function fit(m: Ernie3ForPreTraining, loss: () => k.Tensor, steps = 25, lr = 3e-3): [number, number] {
  const opt = new AdamW(m.parameters(), { lr, weightDecay: 0 });
  const vals: number[] = [];
  for (let i = 0; i < steps; i++) {
    k.tidy(() => {
      const l = loss();
      vals.push(l.item());
      l.backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  return [vals[0], vals[vals.length - 1]];
}

function model(seed: number) {
  return new Ernie3ForPreTraining(CONFIG, { generator: new k.Generator(seed) });
}

test('the pre-training heads are counted by headParams', () => {
  const m = model(0);
  const heads = m.mlm_head.numParameters() + m.lm_head.numParameters() + m.reorder_head.numParameters() + m.distance_head.numParameters();
  assert.equal(heads, headParams(m.config));
  m.dispose();
});

test('loss: knowledge-masked LM and universal knowledge-text prediction start near ln V and fall', () => {
  const gen = new k.Generator(3);
  const sents = kg.documents.flat().filter((s) => s.spans.length > 0).slice(0, 6);
  const kmlm = collate(sents.map((s) => knowledgeMaskedLm(s, gen, { vocabSize: V, rate: 0.3 })));
  const ukt = collate(kg.triples.slice(0, 6).map((t, i) => sentenceForTriple(kg, i) && universalKnowledgeText(t, sentenceForTriple(kg, i)!, gen, { vocabSize: V })).filter((x) => x !== null) as never);
  for (const [name, b] of [['knowledge-masked LM', kmlm], ['knowledge-text', ukt]] as [string, Batch][]) {
    const m = model(1);
    const [first, last] = fit(m, () => m.maskedLmLoss(b));
    assert.ok(Math.abs(first - Math.log(V)) < 0.3, `${name}: initial loss ${first} vs ln V ${Math.log(V)}`);
    assert.ok(last < 0.5 * first, `${name}: loss ${first} → ${last}`);
    m.dispose();
  }
});

test('loss: sentence reordering and sentence distance start near ln(classes) and fall', () => {
  const gen = new k.Generator(4);
  const docs = kg.documents.map((d) => d.map((s) => s.ids));
  const reorder = collate(docs.slice(0, 8).map((d) => sentenceReordering(d, 3, gen)));
  const distance = collate(Array.from({ length: 8 }, () => sentenceDistance(docs, gen)));
  for (const [task, b, C] of [['reorder', reorder, reorderClasses(3)], ['distance', distance, 3]] as const) {
    const m = model(2);
    const [first, last] = fit(m, () => m.classificationLoss(b, task).loss, 30);
    assert.ok(Math.abs(first - Math.log(C)) < 0.3, `${task}: initial loss ${first} vs ln ${C}`);
    assert.ok(last < 0.5 * first, `${task}: loss ${first} → ${last}`);
    m.dispose();
  }
});

test('loss: document LM over consecutive segments with the recurrence memory falls', () => {
  const doc = kg.documents.slice(0, 2).flatMap((d) => d.flatMap((s) => s.ids));
  const segs = documentLmSegments(doc, 12).slice(0, 3);
  const m = model(5);
  const [first, last] = fit(m, () => {
    let memory: Ernie3Memory | null = null;
    let total: k.Tensor | null = null;
    for (const s of segs) {
      const r = m.documentLmLoss(idsTensor(s.inputIds), idsTensor(s.labels), memory);
      disposeMemory(memory);
      memory = r.memory;
      total = total ? total.add(r.loss) : r.loss;
    }
    disposeMemory(memory);
    return total!.div(segs.length);
  });
  assert.ok(Math.abs(first - Math.log(V)) < 0.3, `initial ${first} vs ln V ${Math.log(V)}`);
  assert.ok(last < 0.6 * first, `document LM loss ${first} → ${last}`);
  m.dispose();
});

test('universal knowledge-text prediction: a triple alone is [CLS] head [MASK]… tail [SEP] labelled with its relation; relationMaskRate 0/1', () => {
  const tr = kg.triples[0];
  const ex = universalKnowledgeText(tr, null, new k.Generator(0), { vocabSize: V });
  const r0 = 1 + tr.head.length;
  assert.equal(ex.maskedPart, 'relation');
  assert.deepEqual(ex.inputIds, [CLS, ...tr.head, ...tr.relation.map(() => MASK), ...tr.tail, SEP]);
  assert.deepEqual(ex.tokenTypeIds, new Array(ex.inputIds.length).fill(0));
  assert.deepEqual(ex.labels, ex.inputIds.map((_, i) => (i >= r0 && i < r0 + tr.relation.length ? tr.relation[i - r0] : IGNORE)));
  const s = sentenceForTriple(kg, 0)!;
  for (let seed = 0; seed < 5; seed++) {
    assert.equal(universalKnowledgeText(tr, s, new k.Generator(seed), { vocabSize: V, relationMaskRate: 1 }).maskedPart, 'relation');
    assert.equal(universalKnowledgeText(tr, s, new k.Generator(seed), { vocabSize: V, relationMaskRate: 0 }).maskedPart, 'sentence');
  }
});
