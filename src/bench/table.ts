/**
 * Plain-text rendering of benchmark results (the table `npm run bench` prints and docs/benchmarks.md quotes).
 * Columns are right-aligned numbers; a value that could not be measured prints as "n/a" with the reason in a note.
 */
import type { AttentionResult } from './attention.js';
import type { GemmResult } from './gemm.js';
import type { MachineInfo } from './machine.js';
import type { OverheadResult } from './overhead.js';
import type { PeakResult } from './peak.js';
import type { SuiteResults, Unavailable } from './suite.js';
import type { TrainStepResult } from './train-step.js';

/** A number with 3 significant digits (or fixed for large values), "n/a" for null. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 10 ** digits) return v.toFixed(0);
  return v.toPrecision(digits);
}

function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${(v * 100).toFixed(1)}%`;
}

/** Lays out rows with the header's column count, first column left-aligned, the rest right-aligned. */
export function grid(header: string[], rows: string[][], indent = '  '): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => indent + r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(header), ...rows.map(line)];
}

export function machineLines(m: MachineInfo): string[] {
  const kiln = m.nativeIsa ? `backend ${m.kilnBackend}, native kernels dispatch on ${m.nativeIsa}` : `backend ${m.kilnBackend} (${m.nativeNote ?? 'native addon absent'})`;
  return [
    `machine  ${m.cpu} · ${m.threads} hardware threads · ${m.platform} · node ${m.node} · load average ${m.loadAvg1m.toFixed(2)}`,
    `isa      ${m.cpuIsa.join(' ') || 'unknown'}`,
    `kiln     ${kiln}`,
  ];
}

export function peakLines(peak: PeakResult[]): string[] {
  const p0 = peak[0];
  const sessions = p0 && p0.sessions.length > 1 ? `, probed at start and end of the run, higher kept` : '';
  const head = !p0 || p0.gflops === null ? 'fp32 FMA peak' : `fp32 FMA peak (native probe, ${p0.isa}, best of ${p0.runs} × ${p0.seconds} s${sessions})`;
  const multi = peak.some((p) => p.sessions.length > 1);
  const header = multi ? ['threads', 'GFLOP/s', 'probes'] : ['threads', 'GFLOP/s'];
  const rows = peak.map((p) => [String(p.threads), fmt(p.gflops, 4), ...(multi ? [p.sessions.map((v) => fmt(v, 4)).join(' / ')] : [])]);
  const out = [head, ...grid(header, rows)];
  const note = peak.find((p) => p.note)?.note;
  if (note) out.push(`  peak ${note}`);
  return out;
}

export function gemmLines(gemm: GemmResult[], peerLabels: Record<string, string>, peerNotes: Record<string, string[]>): string[] {
  const keys = [...new Set(gemm.flatMap((g) => Object.keys(g.peers)))];
  const header = ['threads', 'n', 'kiln', ...keys, ...keys.map((k) => `kiln/${k}`), 'kiln/peak', 'check (max rel err)'];
  const rows = gemm.map((g) => {
    const kilnThreads = g.kiln.threadsUsed === g.threads ? '' : ` (${g.kiln.threadsUsed} used)`;
    return [
      `${g.threads}${kilnThreads}`,
      String(g.n),
      fmt(g.kiln.gflops),
      ...keys.map((k) => (g.peers[k]?.gflops !== undefined ? fmt(g.peers[k].gflops) : 'error')),
      ...keys.map((k) => fmt(g.peers[k]?.kilnOverPeer ?? null)),
      pct(g.kilnOverPeak),
      `${g.check.passed ? 'ok' : 'FAIL'} ${fmt(g.check.maxRelErr ?? g.check.f64SampleMaxRelErr, 2)}${g.check.against ? ` vs ${g.check.against}` : ' vs f64'}`,
    ];
  });
  const out = ['sgemm C[n,n] = A[n,n]·B[n,n] f32, GFLOP/s = 2n³ / best time', ...grid(header, rows)];
  for (const k of keys) out.push(`  ${k}: ${peerLabels[k] ?? k} — ${(peerNotes[k] ?? []).join('; ')}`);
  for (const m of gemm[0]?.missingPeers ?? []) out.push(`  ${m.key}: not measured — ${m.reason}`);
  const errs = gemm.flatMap((g) => Object.entries(g.peers).filter(([, p]) => p.error).map(([k, p]) => `n=${g.n} t=${g.threads} ${k}: ${p.error}`));
  for (const e of errs) out.push(`  error ${e}`);
  // nothing can beat a correctly measured FMA peak: flag it if anything does (a broken probe or timer)
  for (const g of gemm) {
    if (!g.peakGflops) continue;
    const over = [['kiln', g.kiln.gflops] as const, ...Object.entries(g.peers).map(([k, p]) => [k, p.gflops ?? 0] as const)].filter(([, v]) => v > g.peakGflops! * 1.02);
    for (const [who, v] of over) out.push(`  WARNING n=${g.n} t=${g.threads}: ${who} ${fmt(v)} GFLOP/s is above the measured peak ${fmt(g.peakGflops)}: the peak probe or the timer is wrong`);
  }
  const kilnNote = gemm.find((g) => g.kiln.note)?.kiln.note;
  out.push(`  kiln: backend ${gemm[0]?.kiln.backend ?? '?'} gemm kernel${kilnNote ? ` (${kilnNote})` : ''}; check = max|C_kiln − C_ref| / max|C_ref|, tolerance ${gemm[0]?.check.tolerance ?? ''}, plus 64 entries vs f64`);
  return out;
}

export function attentionLines(a: AttentionResult | Unavailable): string[] {
  if ('unavailable' in a) return ['fused attention fwd+bwd', `  not available: ${a.unavailable}`];
  const s = a.shape;
  return [
    `fused attention (scaledDotProductAttention, ${a.backend} backend), B=${s.B} H=${s.H} T=${s.T} D=${s.D}${s.causal ? ' causal' : ''}, ${a.threadsUsed} thread(s)`,
    ...grid(
      ['pass', 'ms', 'GFLOP/s', '/peak'],
      [
        ['forward', fmt(a.forwardMs), fmt(a.forwardGflops), pct(a.peakGflops ? a.forwardGflops / a.peakGflops : null)],
        ['backward', fmt(a.backwardMs), fmt((a.fwdBwdFlop - a.forwardFlop) / (a.backwardMs / 1e3) / 1e9), 'n/a'],
        ['fwd+bwd', fmt(a.fwdBwdMs), fmt(a.fwdBwdGflops), pct(a.fwdBwdOverPeak)],
      ],
    ),
    `  FLOPs: forward 4·B·H·T²·D${s.causal ? ' / 2 (causal)' : ''}, backward 2.5 × forward; check vs composed-ops reference: ${a.check.passed ? 'ok' : 'FAIL'} ${fmt(a.check.maxRelErr, 2)}`,
  ];
}

export function overheadLines(o: OverheadResult): string[] {
  return [
    `dispatch overhead: a.add(b) on 4-element f32 tensors, ${o.opsPerCall} per tidy: ${fmt(o.usPerOp)} µs/op wall clock ` +
      `(target ≤ ${o.targetUs} µs: ${o.meetsTarget ? 'met' : 'NOT met'}); ${fmt(o.cpuUsPerOp)} µs/op of process CPU time`,
  ];
}

export function trainStepLines(t: TrainStepResult | Unavailable): string[] {
  if ('unavailable' in t) return ['training step', `  not available: ${t.unavailable}`];
  const w = t.workload;
  const out = [
    `training step: ${w.source} (${(t.params / 1e6).toFixed(2)}M params, ${w.config.num_hidden_layers} layers, d=${w.config.hidden_size}), batch ${w.batchSize} × ${w.seqLen} tokens, AdamW, ${t.backend} backend, ${t.threadsUsed} thread(s)`,
    ...grid(
      ['step ms', 'tokens/s', 'GFLOP/step', 'GFLOP/s', 'MFU'],
      [[fmt(t.stepMs), fmt(t.tokensPerSecond), fmt(t.flopPerStep / 1e9), fmt(t.achievedGflops), pct(t.mfu)]],
    ),
    `  FLOPs per token = 6·N_matmul + 6·L·T·d (causal attention); best of ${t.windows} window(s) over ${t.measuredSteps} measured step(s); median step ${fmt(t.medianStepMs)} ms`,
  ];
  if (w.note) out.push(`  note: ${w.note}`);
  return out;
}

export function suiteTable(r: SuiteResults): string {
  const lines = [
    `Kiln benchmarks · ${r.startedAt}${r.quick ? ' · QUICK (tiny sizes, not representative)' : ''}`,
    ...machineLines(r.machine),
    `method   ${r.method}`,
    '',
    ...peakLines(r.peak),
    '',
    ...gemmLines(r.gemm, r.peers.label, r.peers.notes),
    '',
    ...attentionLines(r.attention),
    '',
    ...overheadLines(r.overhead),
    '',
    ...trainStepLines(r.trainStep),
    '',
    `all correctness checks: ${r.checksPassed ? 'passed' : 'FAILED'} · load average at the end ${r.loadAvgEnd.toFixed(2)}`,
  ];
  return lines.join('\n');
}
