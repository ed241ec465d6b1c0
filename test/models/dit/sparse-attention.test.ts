/** Sliding-tile sparse attention: equals full attention when the window covers the grid, equals a masked full
 * attention otherwise, has correct gradients, and switches on in the Single-DiT. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k from '../../../src/index.js';
import { maxDiff } from '../../helpers/tensors.js';
import { gradcheck } from '../../helpers/gradcheck.js';
import { parseTileWindow, slidingTileAttention, slidingTileJointAttention, tilePlan, type TileWindow } from '../../../src/models/dit/attention.js';
import { scaledDotProductAttention, scaledDotProductAttentionReference } from '../../../src/tensor/ops/attention.js';
import { SingleDit } from '../../../src/models/dit/single-dit.js';
import { MmDit } from '../../../src/models/dit/mm-dit.js';
import { normal_ } from '../../../src/nn/init.js';

const grid = { t: 2, h: 4, w: 6 };
const N = 48;

function qkv(seed: number, B = 2, H = 2, D = 4): k.Tensor[] {
  const g = new k.Generator(seed);
  return [0, 1, 2].map(() => k.randn([B, H, N, D], { generator: g }));
}

/** keep mask [N, N]: query token i may see key token j when j's tile is in i's tile's window. */
function windowMask(o: TileWindow): k.Tensor {
  const { counts, window, index } = tilePlan(grid, o);
  const W = window[0] * window[1] * window[2];
  const tileOf = (n: number) => {
    const t = Math.floor(n / (grid.h * grid.w));
    const h = Math.floor(n / grid.w) % grid.h;
    const w = n % grid.w;
    return (Math.floor(t / o.tile[0]) * counts[1] + Math.floor(h / o.tile[1])) * counts[2] + Math.floor(w / o.tile[2]);
  };
  const m = new Uint8Array(N * N);
  for (let i = 0; i < N; i++) {
    const ti = tileOf(i);
    const allowed = new Set(Array.from(index.subarray(ti * W, (ti + 1) * W)));
    for (let j = 0; j < N; j++) m[i * N + j] = allowed.has(tileOf(j)) ? 1 : 0;
  }
  return k.fromArray(m, [N, N], { dtype: 'u8' });
}

test('window covering the whole grid == full attention', () => {
  const [q, kk, v] = qkv(1);
  const full = scaledDotProductAttention(q, kk, v);
  for (const o of [
    { tile: [1, 2, 3], window: [2, 2, 2] },
    { tile: [2, 4, 6], window: [1, 1, 1] },
    { tile: [1, 1, 2], window: [9, 9, 9] },
  ] as TileWindow[]) {
    const d = maxDiff(slidingTileAttention(q, kk, v, grid, o), full);
    assert.ok(d < 1e-5, `${JSON.stringify(o)}: ${d}`);
  }
});

test('smaller windows == full attention under the window keep mask (clamped windows at the borders)', () => {
  const [q, kk, v] = qkv(2);
  for (const o of [
    { tile: [1, 2, 2], window: [1, 1, 1] },
    { tile: [1, 2, 2], window: [2, 1, 3] },
    { tile: [1, 1, 2], window: [1, 3, 2] },
  ] as TileWindow[]) {
    const ref = scaledDotProductAttentionReference(q, kk, v, { mask: windowMask(o) });
    const d = maxDiff(slidingTileAttention(q, kk, v, grid, o), ref);
    assert.ok(d < 1e-5, `${JSON.stringify(o)}: ${d}`);
    assert.ok(maxDiff(ref, scaledDotProductAttention(q, kk, v)) > 1e-3, 'the window really restricts');
  }
  // every query tile sees the same number of keys: the plan's windows have W distinct tiles each
  const plan = tilePlan(grid, { tile: [1, 2, 2], window: [2, 1, 3] });
  assert.deepEqual(plan.counts, [2, 2, 3]);
  for (let t = 0; t < 12; t++) assert.equal(new Set(plan.index.subarray(t * 6, t * 6 + 6)).size, 6);
});

test('gradcheck: sliding-tile attention (q, k, v)', () => {
  const g = new k.Generator(3);
  const small = { t: 1, h: 2, w: 4 };
  const mk = () => k.randn([1, 2, 8, 3], { generator: g });
  gradcheck((q, kk, v) => slidingTileAttention(q, kk, v, small, { tile: [1, 1, 2], window: [1, 1, 2] }), [mk(), mk(), mk()], { eps: 1e-2, rtol: 2e-2, atol: 2e-3 });
});

test('errors and parsing', () => {
  const [q, kk, v] = qkv(4);
  assert.throws(() => slidingTileAttention(q, kk, v, grid, { tile: [1, 3, 2], window: [1, 1, 1] }), (e: k.KilnError) => e.code === 'E_SHAPE' && /divide/.test(e.message));
  assert.deepEqual(parseTileWindow('tile=1x4x4,window=3x3x3'), { tile: [1, 4, 4], window: [3, 3, 3] });
  assert.equal(parseTileWindow('full'), null);
  assert.throws(() => parseTileWindow('tile=1x4'), (e: k.KilnError) => e.code === 'E_ARG');
});

test('Single-DiT switch: a covering window gives the full-attention output; a small one differs', () => {
  const dit = new SingleDit('single-dit-tiny', { generator: new k.Generator(1) });
  const g = new k.Generator(4);
  for (const p of dit.parameters()) normal_(p, 0, 0.2, g);
  const inputs = { latents: k.randn([1, 4, 2, 4, 8], { generator: g }), timestep: k.tensor([500]), text: k.randn([1, 3, 32], { generator: g }) };
  k.noGrad(() => {
    const full = dit.forward(inputs);
    dit.attentionWindow = { tile: [1, 1, 2], window: [2, 2, 2] };
    assert.ok(maxDiff(dit.forward(inputs), full) < 1e-5);
    dit.attentionWindow = { tile: [1, 1, 1], window: [1, 1, 1] };
    assert.ok(maxDiff(dit.forward(inputs), full) > 1e-3);
  });
  dit.dispose();
});

test('joint form (MM-DiT [video; text]): == masked full attention; text keys in every window, text queries see all', () => {
  const g = new k.Generator(6);
  const L = 3;
  const T = N + L;
  const [q, kk, v] = [0, 1, 2].map(() => k.randn([2, 2, T, 4], { generator: g }));
  const textKeep = Uint8Array.from([1, 1, 0, 1, 0, 1]); // [B=2, L=3]
  const mask = k.fromArray(Uint8Array.from([...Array(N).fill(1), ...textKeep.slice(0, 3), ...Array(N).fill(1), ...textKeep.slice(3)]), [2, 1, 1, T], { dtype: 'u8' });
  // covering window: equals full masked attention
  const full = scaledDotProductAttention(q, kk, v, { mask });
  assert.ok(maxDiff(slidingTileJointAttention(q, kk, v, grid, { tile: [1, 2, 3], window: [2, 2, 2] }, mask), full) < 1e-5);
  // a real window: reference keep mask [B, 1, T, T] built from the video window mask + text rules
  const o: TileWindow = { tile: [1, 2, 2], window: [1, 1, 2] };
  const wm = windowMask(o).data() as Uint8Array;
  const m = new Uint8Array(2 * T * T);
  for (let b = 0; b < 2; b++)
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) {
        const keyOk = j < N || textKeep[b * L + (j - N)] === 1;
        const inWindow = i >= N || j >= N || wm[i * N + j] === 1;
        m[(b * T + i) * T + j] = keyOk && inWindow ? 1 : 0;
      }
  const ref = scaledDotProductAttentionReference(q, kk, v, { mask: k.fromArray(m, [2, 1, T, T], { dtype: 'u8' }) });
  assert.ok(maxDiff(slidingTileJointAttention(q, kk, v, grid, o, mask), ref) < 1e-5);
});

test('gradcheck: joint sliding-tile attention with a text mask', () => {
  const g = new k.Generator(8);
  const small = { t: 1, h: 2, w: 2 };
  const mk = () => k.randn([1, 1, 6, 3], { generator: g });
  const mask = k.fromArray(Uint8Array.from([1, 1, 1, 1, 1, 0]), [1, 1, 1, 6], { dtype: 'u8' });
  gradcheck((q, kk, v) => slidingTileJointAttention(q, kk, v, small, { tile: [1, 1, 1], window: [1, 1, 2] }, mask), [mk(), mk(), mk()], { eps: 1e-2, rtol: 2e-2, atol: 2e-3 });
});

test('MM-DiT switch: a covering window gives the full-attention output; a small one differs', () => {
  const m = new MmDit('mm-dit-tiny', { generator: new k.Generator(1) });
  const g = new k.Generator(4);
  for (const p of m.parameters()) normal_(p, 0, 0.2, g);
  const inputs = {
    latents: k.randn([1, 4, 2, 4, 8], { generator: g }), timestep: k.tensor([500]), text: k.randn([1, 3, 32], { generator: g }),
    pooled: k.randn([1, 32], { generator: g }), textMask: k.tensor([[1, 1, 0]]),
  };
  k.noGrad(() => {
    const full = m.forward(inputs);
    m.attentionWindow = { tile: [1, 1, 2], window: [2, 2, 2] };
    assert.ok(maxDiff(m.forward(inputs), full) < 1e-5);
    m.attentionWindow = { tile: [1, 1, 1], window: [1, 1, 1] };
    assert.ok(maxDiff(m.forward(inputs), full) > 1e-3);
  });
  m.dispose();
});
