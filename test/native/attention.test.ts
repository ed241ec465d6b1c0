/**
 * Parity of the native fused attention (native/kernels-attention.cc via src/backend/native/attention.ts) with the
 * TypeScript reference (src/backend/ts/attention.ts): forward (out, lse) and backward (dq, dk, dv) on random
 * shapes — odd lengths (1, 7, 33, 65, 129, 257), head dims 16/64/128, Dv ≠ D, grouped-query heads, causal with
 * Tq < Tk and Tq > Tk (rows that see no key), additive masks broadcast over batch/heads/queries, a transposed
 * (non-unit key stride) mask, keep masks with fully blocked rows — on every ISA this CPU has and on 1 and 2 threads.
 * Also: argument validation (E_ARG errors, no crash). Skips when the addon is absent unless KILN_REQUIRE_NATIVE=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, View } from '../../src/backend/backend.js';
import { tsBackend } from '../../src/backend/index.js';
import { KilnError } from '../../src/errors.js';
import { assertSame, eachConfig as forEachConfig, nativeSetup as native, rng, skip } from './kernel-parity.js';


function randn(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return a;
}

type MaskKind = 'none' | 'qk' | 'b11k' | 'full-dead' | 'transposed' | 'keep-dead';

interface Case {
  B: number; H: number; Hkv: number; Tq: number; Tk: number; D: number; Dv: number; causal: boolean; mask: MaskKind;
}

/** Builds the mask view broadcast to [B, H, Tq, Tk] (additive; −Infinity = blocked). */
function makeMask(c: Case, r: () => number): View | null {
  const { B, H, Tq, Tk } = c;
  const bias = () => (r() < 0.2 ? -Infinity : r() * 2 - 1);
  switch (c.mask) {
    case 'none':
      return null;
    case 'qk': { // [Tq, Tk] bias with some blocked entries
      const data = new Float32Array(3 + Tq * Tk).map(bias);
      return { data, shape: [B, H, Tq, Tk], strides: [0, 0, Tk, 1], offset: 3 };
    }
    case 'b11k': { // [B, 1, 1, Tk] padding mask (0 or −∞), at least the first key kept
      const data = new Float32Array(B * Tk).map((_, i) => (i % Tk === 0 || r() < 0.7 ? 0 : -Infinity));
      return { data, shape: [B, H, Tq, Tk], strides: [Tk, 0, 0, 1], offset: 0 };
    }
    case 'full-dead': { // [B, H, Tq, Tk] bias; every third query row fully blocked
      const data = new Float32Array(B * H * Tq * Tk).map(bias);
      for (let bh = 0; bh < B * H; bh++)
        for (let i = 0; i < Tq; i += 3) data.fill(-Infinity, (bh * Tq + i) * Tk, (bh * Tq + i + 1) * Tk);
      return { data, shape: [B, H, Tq, Tk], strides: [H * Tq * Tk, Tq * Tk, Tk, 1], offset: 0 };
    }
    case 'transposed': { // a [Tk, Tq] array read transposed: key stride Tq
      const data = new Float32Array(Tk * Tq).map(bias);
      return { data, shape: [B, H, Tq, Tk], strides: [0, 0, 1, Tq], offset: 0 };
    }
    case 'keep-dead': { // a keep mask converted to additive ([B, 1, Tq, Tk]): row 1 of each batch blocked
      const data = new Float32Array(B * Tq * Tk).map(() => (r() < 0.5 ? 0 : -Infinity));
      for (let b = 0; b < B; b++) if (Tq > 1) data.fill(-Infinity, (b * Tq + 1) * Tk, (b * Tq + 2) * Tk);
      return { data, shape: [B, H, Tq, Tk], strides: [Tq * Tk, 0, Tk, 1], offset: 0 };
    }
  }
}

interface Outputs { out: Float32Array; lse: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }

function run(be: Backend, c: Case, inp: { q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array; mask: View | null }, scale: number, out0?: Outputs): Outputs {
  const { B, H, Hkv, Tq, Tk, D, Dv, causal } = c;
  const out = new Float32Array(B * H * Tq * Dv).fill(NaN);
  const lse = new Float32Array(B * H * Tq).fill(NaN);
  be.attentionForward(inp.q, inp.k, inp.v, inp.mask, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, 64, 64, out, lse);
  const dq = new Float32Array(B * H * Tq * D).fill(NaN);
  const dk = new Float32Array(B * Hkv * Tk * D).fill(NaN);
  const dv = new Float32Array(B * Hkv * Tk * Dv).fill(NaN);
  // the backward reads the reference's out/lse when given, so backward errors are not compounded by forward ones
  const o = out0 ?? { out, lse };
  be.attentionBackward(inp.q, inp.k, inp.v, inp.mask, o.out, o.lse, inp.g, B, H, Hkv, Tq, Tk, D, Dv, scale, causal, 64, 64, dq, dk, dv);
  return { out, lse, dq, dk, dv };
}

/** |a − b| ≤ tol·(1 + |b|) elementwise (fp32 accumulation vs the reference's fp64), −∞ and 0 exact. */
function assertClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const a = got[i], b = want[i];
    if (b === -Infinity || Number.isNaN(b)) {
      assert.ok(Object.is(a, b), `${what}[${i}]: got ${a}, want ${b}`);
      continue;
    }
    if (!(Math.abs(a - b) <= tol * (1 + Math.abs(b)))) assert.fail(`${what}[${i}]: got ${a}, want ${b} (tol ${tol})`);
  }
}

const CASES: Case[] = [
  { B: 1, H: 1, Hkv: 1, Tq: 1, Tk: 1, D: 16, Dv: 16, causal: false, mask: 'none' },
  { B: 2, H: 4, Hkv: 2, Tq: 7, Tk: 33, D: 16, Dv: 24, causal: true, mask: 'none' },
  { B: 1, H: 2, Hkv: 1, Tq: 33, Tk: 33, D: 64, Dv: 64, causal: true, mask: 'qk' },
  { B: 2, H: 3, Hkv: 3, Tq: 129, Tk: 65, D: 64, Dv: 32, causal: false, mask: 'b11k' },
  { B: 1, H: 4, Hkv: 2, Tq: 129, Tk: 65, D: 128, Dv: 128, causal: true, mask: 'none' }, // rows 0..63 see no key
  { B: 1, H: 2, Hkv: 2, Tq: 33, Tk: 129, D: 16, Dv: 16, causal: true, mask: 'full-dead' },
  { B: 2, H: 8, Hkv: 1, Tq: 1, Tk: 129, D: 64, Dv: 64, causal: true, mask: 'none' }, // decode step, MQA
  { B: 1, H: 2, Hkv: 1, Tq: 17, Tk: 65, D: 16, Dv: 48, causal: false, mask: 'transposed' },
  { B: 2, H: 2, Hkv: 1, Tq: 7, Tk: 7, D: 16, Dv: 16, causal: false, mask: 'keep-dead' },
  { B: 1, H: 3, Hkv: 1, Tq: 257, Tk: 257, D: 32, Dv: 32, causal: true, mask: 'none' }, // one group: chunked dq
  { B: 1, H: 3, Hkv: 1, Tq: 200, Tk: 257, D: 32, Dv: 16, causal: false, mask: 'qk' },
];

test('attention forward and backward match the reference: odd shapes, GQA, causal, masks, every ISA, 1/2 threads', { skip }, () => {
  const { be } = native();
  const r = rng(2024);
  for (const c of CASES) {
    const { B, H, Hkv, Tq, Tk, D, Dv } = c;
    const inp = {
      q: randn(B * H * Tq * D, r), k: randn(B * Hkv * Tk * D, r), v: randn(B * Hkv * Tk * Dv, r),
      g: randn(B * H * Tq * Dv, r), mask: makeMask(c, r),
    };
    const scale = 1 / Math.sqrt(D);
    const want = run(tsBackend, c, inp, scale);
    const name = JSON.stringify(c);
    // dead rows exist in the cases that should have them
    if (c.mask.endsWith('dead') || (c.causal && c.Tq > c.Tk)) assert.ok(want.lse.some((x) => x === -Infinity), `${name}: no dead row`);
    forEachConfig((cfg) => {
      const got = run(be, c, inp, scale, want);
      assertClose(got.out, want.out, 1e-5, `${cfg} ${name} out`);
      assertClose(got.lse, want.lse, 1e-5, `${cfg} ${name} lse`);
      assertClose(got.dq, want.dq, 2e-5, `${cfg} ${name} dq`);
      assertClose(got.dk, want.dk, 2e-5, `${cfg} ${name} dk`);
      assertClose(got.dv, want.dv, 2e-5, `${cfg} ${name} dv`);
    });
  }
});

test('attention: the native backward on its own forward is consistent with the reference end to end', { skip }, () => {
  const { be } = native();
  const r = rng(5);
  const c: Case = { B: 1, H: 4, Hkv: 2, Tq: 65, Tk: 65, D: 64, Dv: 64, causal: true, mask: 'qk' };
  const inp = {
    q: randn(c.B * c.H * c.Tq * c.D, r), k: randn(c.B * c.Hkv * c.Tk * c.D, r), v: randn(c.B * c.Hkv * c.Tk * c.Dv, r),
    g: randn(c.B * c.H * c.Tq * c.Dv, r), mask: makeMask(c, r),
  };
  const want = run(tsBackend, c, inp, 0.125);
  const got = run(be, c, inp, 0.125);
  for (const k of ['out', 'lse', 'dq', 'dk', 'dv'] as const) assertClose(got[k], want[k], 5e-5, k);
});

test('attention: pre-packed panels built in several batches of groups (small KILN_ATTENTION_PACK_FLOATS) give the same results', { skip }, () => {
  const { be } = native();
  const r = rng(77);
  const c: Case = { B: 3, H: 4, Hkv: 2, Tq: 40, Tk: 70, D: 16, Dv: 24, causal: true, mask: 'qk' };
  const inp = {
    q: randn(c.B * c.H * c.Tq * c.D, r), k: randn(c.B * c.Hkv * c.Tk * c.D, r), v: randn(c.B * c.Hkv * c.Tk * c.Dv, r),
    g: randn(c.B * c.H * c.Tq * c.Dv, r), mask: makeMask(c, r),
  };
  const want = run(tsBackend, c, inp, 0.25);
  try {
    for (const cap of ['1', '20000']) { // one group per batch; a few groups per batch
      process.env.KILN_ATTENTION_PACK_FLOATS = cap;
      forEachConfig((cfg) => {
        const got = run(be, c, inp, 0.25, want);
        for (const k of ['out', 'lse', 'dq', 'dk', 'dv'] as const) assertClose(got[k], want[k], 2e-5, `cap ${cap} ${cfg} ${k}`);
      });
    }
  } finally {
    delete process.env.KILN_ATTENTION_PACK_FLOATS;
  }
});

test('attention: bad arguments throw E_ARG instead of crashing', { skip }, () => {
  const { addon: a, be } = native();
  const f = (n: number) => new Float32Array(n);
  const none = f(0);
  const expectArg = (fn: () => void, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof KilnError && e.code === 'E_ARG' && re.test(e.message));
  // H not a multiple of Hkv
  expectArg(() => a.attentionForward(f(48), f(32), f(32), none, 0, 0, 0, 0, 0, 1, 3, 2, 1, 2, 16, 16, 1, false, f(48), f(3)), /multiple of Hkv/);
  // q too short
  expectArg(() => a.attentionForward(f(15), f(16), f(16), none, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 16, 16, 1, false, f(16), f(1)), /q needs/);
  // lse too short
  expectArg(() => a.attentionForward(f(16), f(16), f(16), none, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 16, 16, 1, false, f(16), f(0)), /lse needs/);
  // mask view outside its array
  expectArg(() => a.attentionForward(f(32), f(32), f(32), f(3), 0, 0, 0, 2, 1, 1, 1, 1, 2, 2, 16, 16, 1, false, f(32), f(2)), /mask view/);
  // dv too short in the backward
  expectArg(() => a.attentionBackward(f(16), f(16), f(16), none, 0, 0, 0, 0, 0, f(16), f(1), f(16), 1, 1, 1, 1, 1, 16, 16, 1, false, f(16), f(16), f(15)), /dv needs/);
  // not a Float32Array
  expectArg(() => a.attentionForward(new Float64Array(16) as unknown as Float32Array, f(16), f(16), none, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 16, 16, 1, false, f(16), f(1)), /Float32Array/);
  // block sizes are validated like the reference's
  assert.throws(() => be.attentionForward(f(16), f(16), f(16), null, 1, 1, 1, 1, 1, 16, 16, 1, false, 0, 64, f(16), f(1)), /block sizes/);
});
