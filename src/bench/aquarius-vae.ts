/**
 * Aquarius 3D causal VAE benchmarks (`kiln bench vae`, registered by `registerVaeBench(bench)`):
 *   - throughput: encode and decode video frames/s of one clip [1, 3, T, H, W] (full pass, no gradient; seeded
 *     random weights — the arithmetic does not depend on the values), best and median over runs (timing.ts);
 *   - memory: the allocator's high-water mark (bytes live at once, above what was live before) while decoding the
 *     latents of T = 5, 9, 17, 33, 65 frames three ways: `decodeStream` (chunked, each chunk handed on and dropped —
 *     must be flat in T), `decodeChunked` (chunked, output concatenated — grows only by the output), and the full
 *     untiled `decode` (grows with every activation); plus, for reference, the process RSS after each.
 * The default config `vae-bench` is a quarter-width vae-16c (channels [32, 64, 128, 128], 2 ResNet blocks per level,
 * 16 latent channels): small enough for two cores, every layer of the real design. Results are plain objects; the
 * command prints a table or, with --json, one JSON object.
 */
import type { Command } from 'commander';
import { positiveInt } from '../cli/options.js';
import { KilnError } from '../errors.js';
import { noGrad } from '../tensor/autograd.js';
import { allocator } from '../tensor/allocator.js';
import { randn } from '../tensor/creation.js';
import { Generator } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { getBackendName } from '../backend/index.js';
import { vaeConfig, latentFrames, vaeParamCount, type VaeConfig } from '../models/dit/vae-config.js';
import { CausalVae3d } from '../models/dit/vae.js';
import { toJson } from './json.js';
import { timeSync, timingOptions, type Timing } from './timing.js';

export const VAE_BENCH_FRAMES = [5, 9, 17, 33, 65] as const;

export interface VaeThroughput {
  config: string;
  params: number;
  size: number;
  frames: number;
  latentFrames: number;
  encode: { framesPerS: number; medianFramesPerS: number; seconds: number; runs: number };
  decode: { framesPerS: number; medianFramesPerS: number; seconds: number; runs: number };
  backend: string;
}

export interface VaeMemoryRow {
  frames: number;
  latentFrames: number;
  /** allocator high-water mark above the bytes live before the call */
  streamPeakBytes: number;
  chunkedPeakBytes: number;
  fullPeakBytes: number | null;
  /** bytes of the decoded video itself (for reading the chunked row) */
  outputBytes: number;
  rssMiB: number;
}

export interface VaeMemory {
  config: string;
  size: number;
  chunkLatents: number;
  rows: VaeMemoryRow[];
  /** max / min of streamPeakBytes over the rows (1 = perfectly flat) */
  streamFlatness: number;
}

function configOf(name: string): { name: string; config: VaeConfig } {
  return { name, config: vaeConfig(name) };
}

function rate(frames: number, t: Timing): { framesPerS: number; medianFramesPerS: number; seconds: number; runs: number } {
  return { framesPerS: frames / t.seconds, medianFramesPerS: frames / t.medianSeconds, seconds: t.seconds, runs: t.runs };
}

/** Encode and decode frames/s of one [1, 3, frames, size, size] clip. */
export function benchVaeThroughput({ preset = 'vae-bench', size = 64, frames = 17, quick = false }: { preset?: string; size?: number; frames?: number; quick?: boolean } = {}): VaeThroughput {
  const { name, config } = configOf(preset);
  const vae = new CausalVae3d(config, { generator: new Generator(1) });
  vae.eval();
  try {
    const x = randn([1, config.in_channels, frames, size, size], { generator: new Generator(2) });
    const t = latentFrames(config, frames);
    const s = config.spatial_compression_ratio;
    const z = randn([1, config.latent_channels, t, size / s, size / s], { generator: new Generator(3) });
    const opts = timingOptions(quick);
    const enc = timeSync(() => noGrad(() => tidy(() => { vae.encode(x); })), opts);
    const dec = timeSync(() => noGrad(() => tidy(() => { vae.decode(z); })), opts);
    x.dispose();
    z.dispose();
    return { config: name, params: vaeParamCount(config), size, frames, latentFrames: t, encode: rate(frames, enc), decode: rate(frames, dec), backend: getBackendName() };
  } finally {
    vae.dispose();
  }
}

/** Allocator high-water mark of `fn` above the bytes live when it starts. */
export function peakBytesOf(fn: () => void): number {
  const base = allocator.liveBytes;
  allocator.peakBytes = base;
  fn();
  return allocator.peakBytes - base;
}

/** Decode-memory rows for each video length (chunked stream, chunked collected, full untiled). */
export function benchVaeMemory({ preset = 'vae-bench', size = 64, frames = [...VAE_BENCH_FRAMES], chunkLatents = 1, full = true }: { preset?: string; size?: number; frames?: number[]; chunkLatents?: number; full?: boolean } = {}): VaeMemory {
  const { name, config } = configOf(preset);
  const vae = new CausalVae3d(config, { generator: new Generator(1) });
  vae.eval();
  const s = config.spatial_compression_ratio;
  const rows: VaeMemoryRow[] = [];
  try {
    for (const T of frames) {
      const t = latentFrames(config, T);
      const z = randn([1, config.latent_channels, t, size / s, size / s], { generator: new Generator(T) });
      const stream = peakBytesOf(() => vae.decodeStream(z, () => {}, { chunkLatents }));
      const chunked = peakBytesOf(() => vae.decodeChunked(z, chunkLatents).dispose());
      const fullPeak = full ? peakBytesOf(() => noGrad(() => tidy(() => { vae.decode(z); }))) : null;
      z.dispose();
      rows.push({
        frames: T, latentFrames: t, streamPeakBytes: stream, chunkedPeakBytes: chunked, fullPeakBytes: fullPeak,
        outputBytes: 4 * config.out_channels * T * size * size, rssMiB: process.memoryUsage().rss / 2 ** 20,
      });
    }
  } finally {
    vae.dispose();
  }
  const peaks = rows.map((r) => r.streamPeakBytes);
  return { config: name, size, chunkLatents, rows, streamFlatness: Math.max(...peaks) / Math.min(...peaks) };
}

const mib = (b: number | null): string => (b === null ? '—' : `${(b / 2 ** 20).toFixed(1)} MiB`);

export function vaeBenchLines(t: VaeThroughput, m: VaeMemory): string[] {
  const lines = [
    `VAE ${t.config} (${t.params.toLocaleString('en-US')} params, ${t.backend}), clip ${t.frames}×${t.size}×${t.size} → ${t.latentFrames} latent frames`,
    `  encode ${t.encode.framesPerS.toFixed(2)} frames/s (median ${t.encode.medianFramesPerS.toFixed(2)}, ${t.encode.runs} runs)`,
    `  decode ${t.decode.framesPerS.toFixed(2)} frames/s (median ${t.decode.medianFramesPerS.toFixed(2)}, ${t.decode.runs} runs)`,
    `decode peak memory (allocator high-water mark), ${m.size}×${m.size}, chunks of ${m.chunkLatents} latent frame(s):`,
    `  ${'frames'.padStart(6)} ${'latents'.padStart(7)} ${'stream'.padStart(11)} ${'chunked'.padStart(11)} ${'output'.padStart(11)} ${'full'.padStart(11)} ${'RSS'.padStart(11)}`,
  ];
  for (const r of m.rows)
    lines.push(`  ${String(r.frames).padStart(6)} ${String(r.latentFrames).padStart(7)} ${mib(r.streamPeakBytes).padStart(11)} ${mib(r.chunkedPeakBytes).padStart(11)} ${mib(r.outputBytes).padStart(11)} ${mib(r.fullPeakBytes).padStart(11)} ${mib(r.rssMiB * 2 ** 20).padStart(11)}`);
  lines.push(`  stream peak max/min over lengths: ${m.streamFlatness.toFixed(3)} (1 = flat)`);
  return lines;
}

/** `kiln bench vae [--config <preset>] [--size S] [--frames T] [--quick] [--json]`. */
export function registerVaeBench(bench: Command): void {
  bench.command('vae')
    .description('Aquarius causal VAE: encode/decode frames/s, and decode peak memory vs video length (chunked must be flat)')
    .option('--config <preset>', 'VAE preset (default vae-bench; vae-16c is the full size)', 'vae-bench')
    .option('--size <px>', 'frame size, a multiple of 8 (default 64; quick 32)', positiveInt)
    .option('--frames <n>', 'frames of the throughput clip, 1 + 4k (default 17; quick 5)', positiveInt)
    .option('--no-full', 'skip the untiled full decode in the memory table (it grows with the video)')
    .option('--quick', 'short measurements on a small clip (tests, smoke runs)')
    .option('--json', 'print one JSON object instead of text')
    .action((o: { config: string; size?: number; frames?: number; full: boolean; quick?: boolean; json?: boolean }) => {
      const quick = o.quick ?? false;
      const size = o.size ?? (quick ? 32 : 64);
      if (size % 8 !== 0) throw new KilnError('E_ARG', `kiln bench vae: --size ${size} must be a multiple of 8`);
      const t = benchVaeThroughput({ preset: o.config, size, frames: o.frames ?? (quick ? 5 : 17), quick });
      const m = benchVaeMemory({ preset: o.config, size, frames: quick ? [5, 9, 17] : [...VAE_BENCH_FRAMES], full: o.full });
      const ok = Number.isFinite(t.encode.framesPerS) && Number.isFinite(t.decode.framesPerS) && m.streamFlatness < 1.05;
      if (o.json) process.stdout.write(`${JSON.stringify(toJson({ bench: 'vae', value: t.decode.framesPerS, unit: 'frames/s', throughput: t, memory: m, flat: m.streamFlatness < 1.05 }))}\n`);
      else process.stdout.write(`${vaeBenchLines(t, m).join('\n')}\n`);
      if (!ok) process.exitCode = 1;
    });
}
