/**
 * `kiln train dit` absolute positions (default; `--no-abs-pos` leaves them out): the demo denoiser (text-to-video.ts
 * `denoiser` → `AbsPosDit`) adds the same fixed 3D sin-cos table as video-model.ts `ditForward`, its staged pass (the
 * diffusion caches' path) equals its forward, and the table changes the output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { denoiser, tinyVideoModelConfig } from '../../src/apps/demo-videos/text-to-video.js';
import { sincos3d, VideoModel, type VideoModelConfig } from '../../src/apps/video-model.js';
import { normal_ } from '../../src/nn/init.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { fromArray, randn } from '../../src/tensor/creation.js';
import { Generator } from '../../src/tensor/random.js';
import { tidy } from '../../src/tensor/scope.js';

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('--abs-pos: AbsPosDit equals ditForward with absolute positions, staged == forward, and the table matters', () => {
  const geo = { frames: 3, height: 16, width: 24 };
  const mk = (absPos: boolean): VideoModel => {
    const cfg = tinyVideoModelConfig('pixel', 3, geo, { hidden: 24, layers: 1, absPos });
    const m = new VideoModel({ ...cfg, prediction: 'x' } as VideoModelConfig, { seed: 7 });
    normal_(m.dit.proj_out.weight, 0, 0.1, new Generator(9)); // the head is zero-initialised
    return m;
  };
  const abs = mk(true), plain = mk(false);
  try {
    assert.equal(abs.config.abs_pos_embed, true);
    assert.equal(plain.config.abs_pos_embed, undefined);
    noGrad(() => tidy(() => {
      const x = randn([2, 3, 3, 16, 24], { generator: new Generator(1) });
      const t = fromArray([400, 800], [2]);
      const c = abs.condition(['a red square moving left on a dark background', 'a blue circle']);
      const inputs = { latents: x, timestep: t, text: c.text, textMask: c.textMask };
      const net = denoiser(abs);
      const got = net.forward(inputs).data() as Float32Array;
      const ref = abs.velocity()(x, t, c).data() as Float32Array;
      assert.ok(maxDiff(got, ref) < 1e-4, `AbsPosDit vs ditForward: ${maxDiff(got, ref)}`);
      const p = net.begin(inputs);
      const staged = p.head(p.blocks(p.x, 0, p.numBlocks)).data() as Float32Array;
      assert.ok(maxDiff(staged, got) < 1e-5);
      const r1 = p.rows(1, 2);
      const row1 = r1.head(r1.blocks(r1.x, 0, r1.numBlocks)).data() as Float32Array;
      assert.ok(maxDiff(row1, got.subarray(got.length / 2)) < 1e-4);
      const without = denoiser(plain).forward(inputs).data() as Float32Array;
      assert.ok(maxDiff(without, got) > 1e-3, `the position table changed nothing: ${maxDiff(without, got)}`);
    }));
  } finally {
    abs.dispose();
    plain.dispose();
  }
});

test('fractional positions: the same relative place gets the same row in every clip size; AbsPosDit == ditForward', () => {
  const D = 24;
  const a = sincos3d({ t: 5, h: 2, w: 2 }, D, 0, true).data() as Float32Array;
  const b = sincos3d({ t: 9, h: 6, w: 6 }, D, 0, true).data() as Float32Array;
  const row = (x: Float32Array, grid: { h: number; w: number }, t: number, h: number, w: number): number[] =>
    Array.from(x.subarray(((t * grid.h + h) * grid.w + w) * D, ((t * grid.h + h) * grid.w + w + 1) * D));
  // t 0 of 5 ↔ 0 of 9, 4 of 5 ↔ 8 of 9, 2 ↔ 4; cell 0 of 2 ↔ cell 1 of 6 (centre at 1/4), cell 1 of 2 ↔ cell 4 of 6
  for (const [ta, tb] of [[0, 0], [4, 8], [2, 4]])
    for (const [ha, hb] of [[0, 1], [1, 4]])
      row(a, { h: 2, w: 2 }, ta, ha, 1).forEach((v, i) => assert.ok(Math.abs(v - row(b, { h: 6, w: 6 }, tb, hb, 4)[i]) < 1e-5, `t ${ta}/${tb} h ${ha}/${hb} dim ${i}`));
  const grid = sincos3d({ t: 5, h: 2, w: 2 }, D).data() as Float32Array;
  assert.ok(maxDiff(grid, a) > 0.1, 'fractional table equals the grid-index table');
  const cfg = tinyVideoModelConfig('pixel', 3, { frames: 3, height: 16, width: 24 }, { hidden: 24, layers: 1, absPos: true, fractionalPos: true });
  assert.equal(cfg.abs_pos_fractional, true);
  const m = new VideoModel({ ...cfg, prediction: 'x' } as VideoModelConfig, { seed: 7 });
  try {
    normal_(m.dit.proj_out.weight, 0, 0.1, new Generator(9));
    noGrad(() => tidy(() => {
      const x = randn([1, 3, 3, 16, 24], { generator: new Generator(1) });
      const t = fromArray([600], [1]);
      const c = m.condition(['a red square moving left on a dark background']);
      const got = denoiser(m).forward({ latents: x, timestep: t, text: c.text, textMask: c.textMask }).data() as Float32Array;
      const ref = m.velocity()(x, t, c).data() as Float32Array;
      assert.ok(maxDiff(got, ref) < 1e-4, `AbsPosDit (fractional) vs ditForward: ${maxDiff(got, ref)}`);
    }));
  } finally {
    m.dispose();
  }
});
