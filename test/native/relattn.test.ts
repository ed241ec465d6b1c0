/**
 * Native relative-position attention and seeded dropout mask (native/kernels-relattn.cc) against the TypeScript
 * reference (src/backend/ts/relattn.ts): forward (out, lse) and backward (dq, dk, dv, drk, du, dvb) at odd sizes —
 * T across the 64-row tile boundary, memory or none, causal and bidirectional, a key mask with fully blocked rows,
 * attention dropout on, sizes below and above the threading threshold — under each ISA and at 1 and 2 threads, the
 * 2-thread backward bit-identical to the 1-thread one; the dropout mask bit for bit; bad arguments throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RelAttentionDims } from '../../src/backend/backend.js';
import { addon, assertClose, assertSame, eachConfig, nb, randn, ref, rng, skip as skipNative } from './kernel-parity.js';

// an addon binary built before these kernels loads without them (the reference serves them): skip, unless the
// native kernels are required, when the first test fails on their absence
const skip = skipNative || (addon && !addon.relAttentionForward && process.env.KILN_REQUIRE_NATIVE !== '1' ? 'the addon was built without the relAttention kernels (rebuild: node scripts/build-native.mjs)' : false);

interface Case { B: number; H: number; T: number; M: number; Dh: number; causal: boolean; mask: 'none' | 'some' | 'rowblock'; dropP: number }

const CASES: Case[] = [
  { B: 1, H: 1, T: 1, M: 0, Dh: 1, causal: true, mask: 'none', dropP: 0 },
  { B: 2, H: 3, T: 17, M: 5, Dh: 7, causal: true, mask: 'none', dropP: 0 },
  { B: 1, H: 2, T: 67, M: 13, Dh: 16, causal: true, mask: 'none', dropP: 0.2 },
  { B: 2, H: 1, T: 63, M: 0, Dh: 33, causal: false, mask: 'some', dropP: 0 },
  { B: 3, H: 2, T: 9, M: 4, Dh: 5, causal: false, mask: 'rowblock', dropP: 0.35 },
  { B: 1, H: 2, T: 129, M: 3, Dh: 8, causal: false, mask: 'none', dropP: 0.1 },
  // big enough for the thread pool (≥ 2 MFLOP): drk / du / dvb accumulated per batch group, groups summed in order
  { B: 2, H: 3, T: 70, M: 20, Dh: 24, causal: true, mask: 'none', dropP: 0.15 },
  { B: 3, H: 2, T: 65, M: 0, Dh: 20, causal: false, mask: 'some', dropP: 0 },
];

function inputs(c: Case, seed: number) {
  const r = rng(seed);
  const K = c.M + c.T;
  const d = c.H * c.Dh;
  const P = K + c.T - 1 + (seed % 2); // one spare row sometimes
  let keyMask: Float32Array | null = null;
  if (c.mask === 'some') keyMask = Float32Array.from({ length: c.B * K }, (_, x) => ((x * 5) % 7 === 2 ? 0 : 1));
  if (c.mask === 'rowblock') keyMask = Float32Array.from({ length: c.B * K }, (_, x) => (Math.floor(x / K) === 1 ? 0 : (x % 3 === 0 ? 0 : 1))); // batch 1 sees no key
  const dims: RelAttentionDims = { B: c.B, H: c.H, T: c.T, M: c.M, Dh: c.Dh, P, scale: 1 / Math.sqrt(Math.max(1, c.Dh)), causal: c.causal, dropP: c.dropP, seed0: 0xdeadbeef, seed1: 12345 };
  return {
    dims, keyMask, K, d, P,
    q: randn(r, c.B * c.T * d), k: randn(r, c.B * K * d), v: randn(r, c.B * K * d), rk: randn(r, P * d),
    u: randn(r, d, 0.5), vb: randn(r, d, 0.5), dout: randn(r, c.B * c.T * d),
  };
}

for (const c of CASES) {
  test(`relAttention forward + backward equal the reference: ${JSON.stringify(c)}`, { skip }, () => {
    assert.ok(addon!.relAttentionForward && addon!.relAttentionBackward && addon!.dropoutMask, 'the addon lacks the relAttention kernels');
    const x = inputs(c, c.T);
    const fwd = (be: typeof ref) => {
      const out = new Float32Array(c.B * c.T * x.d);
      const lse = new Float32Array(c.B * c.H * c.T);
      be.relAttentionForward(x.q, x.k, x.v, x.rk, x.u, x.vb, x.keyMask, x.dims, out, lse);
      return { out, lse };
    };
    const bwd = (be: typeof ref, out: Float32Array, lse: Float32Array) => {
      const g = [c.B * c.T * x.d, c.B * x.K * x.d, c.B * x.K * x.d, x.P * x.d, x.d, x.d].map((n) => new Float32Array(n).fill(7)); // garbage: must be overwritten
      be.relAttentionBackward(x.q, x.k, x.v, x.rk, x.u, x.vb, x.keyMask, x.dims, out, lse, x.dout, g[0], g[1], g[2], g[3], g[4], g[5]);
      return g;
    };
    const want = fwd(ref);
    const wantG = bwd(ref, want.out, want.lse);
    if (c.mask === 'rowblock') assert.ok(want.lse.some((l) => l === -Infinity), 'the case has fully blocked rows');
    const oneThread = new Map<string, Float32Array[]>();
    eachConfig((cfg) => {
      const got = fwd(nb());
      assertClose(got.out, want.out, `${cfg} out`, { rtol: 2e-5, atol: 2e-5 });
      assertClose(got.lse, want.lse, `${cfg} lse`, { rtol: 2e-6, atol: 2e-6 });
      // backward from the reference's forward (same lse), so only the backward is compared
      const g = bwd(nb(), want.out, want.lse);
      ['dq', 'dk', 'dv', 'drk', 'du', 'dvb'].forEach((name, i) => {
        const scale = Math.max(1, ...Array.from(wantG[i], Math.abs));
        assertClose(g[i], wantG[i], `${cfg} ${name}`, { rtol: 0, atol: 3e-5 * scale * Math.sqrt(x.K) });
      });
      // bit-reproducible: 2 threads (tasks claimed in any order) give the 1-thread sums exactly
      const [isa, threads] = cfg.split('/');
      if (threads === '1t') oneThread.set(isa, g);
      else ['dq', 'dk', 'dv', 'drk', 'du', 'dvb'].forEach((name, i) => assertSame(g[i], oneThread.get(isa)![i], `${cfg} ${name} vs 1 thread`));
    });
  });
}

test('dropoutMask equals the reference bit for bit (odd sizes, rates, seeds)', { skip }, () => {
  for (const [n, p, s0, s1] of [[1, 0.5, 1, 2], [16, 0.1, 0, 0], [16385, 0.3, 0xffffffff, 7], [70001, 0.999, 42, 0xabcdef01], [33, 0, 5, 5]] as const) {
    const want = new Float32Array(n);
    ref.dropoutMask(want, n, p, s0, s1);
    eachConfig((cfg) => {
      const got = new Float32Array(n).fill(3);
      nb().dropoutMask(got, n, p, s0, s1);
      assertSame(got, want, `${cfg} n=${n} p=${p}`);
    });
  }
});

test('bad arguments throw E_ARG', { skip }, () => {
  const f = (n: number) => new Float32Array(n);
  const dims = Float64Array.from([1, 1, 2, 0, 2, 3, 1, 1, 0, 0, 0]);
  assert.doesNotThrow(() => addon!.relAttentionForward!(f(4), f(4), f(4), f(6), f(2), f(2), null, dims, f(4), f(2)));
  assert.throws(() => addon!.relAttentionForward!(f(4), f(4), f(4), f(4), f(2), f(2), null, dims, f(4), f(2)), /rk/);
  assert.throws(() => addon!.relAttentionForward!(f(3), f(4), f(4), f(6), f(2), f(2), null, dims, f(4), f(2)), /q/);
  assert.throws(() => addon!.relAttentionForward!(f(4), f(4), f(4), f(6), f(2), f(2), f(1), dims, f(4), f(2)), /keyMask/);
  assert.throws(() => addon!.relAttentionForward!(f(4), f(4), f(4), f(6), f(2), f(2), null, Float64Array.from([1, 1, 2, 0, 2, 3, 1, 1, 1, 0, 0]), f(4), f(2)), /dropout/);
  assert.throws(() => addon!.dropoutMask!(f(3), 4, 0.5, 0, 0), /out/);
});
