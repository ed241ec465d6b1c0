/**
 * The Aquarius 3D causal VAE (HunyuanVideo / Wan2.1 style): a convolutional encoder/decoder over video
 * x [N, 3, T, H, W] in [−1, 1] ↔ latents z [N, Cz, 1 + (T−1)/r_t, H/r_s, W/r_s], with a diagonal-Gaussian posterior.
 *
 *   encoder: conv_in → per level (layers_per_block ResNet blocks, then a downsampler except at the last level)
 *            → mid block → GroupNorm → SiLU → conv_out (2·Cz channels: mean ‖ log-variance)
 *   decoder: conv_in → mid block → per level from the top (layers_per_block + 1 ResNet blocks, then an
 *            upsampler except at level 0) → GroupNorm → SiLU → conv_out
 *   mid block: ResNet → [causal spatio-temporal self-attention (vae-attention.ts) when mid_block_add_attention] → ResNet
 *   ResNet block: x + conv2(SiLU(GN(conv1(SiLU(GN(x))))))  (a 1×1×1 conv_shortcut when the channels change)
 *
 * Causality. Every temporal kernel is a `CausalConv3d`: time is padded on the LEFT only, by replicating the first
 * frame (k_t − 1 copies), so output frame i sees input frames ≤ i. GroupNorm takes statistics per frame
 * (group-norm.ts, 'frame'), the mid-block attention masks later frames, and every other op is per frame. Hence frame 0 encodes alone: an image (T = 1) and the
 * first frame of a video share the latent space.
 * Temporal downsampling is a causal conv with stride 2 in time (T → 1 + (T−1)/2); temporal upsampling repeats
 * every latent frame twice and drops the very first copy (T → 2T − 1), the exact inverse geometry.
 *
 * Chunked (streaming) encode/decode. Each causal conv keeps, between chunks, the input frames its next output
 * still needs (a `CausalCache`): it concatenates them before the new chunk, emits every output whose window is
 * complete, and keeps the remainder. The result equals the full pass (same windows, same arithmetic per output),
 * while memory holds one chunk plus k_t − 1 frames per conv — constant in video length.
 */
import { KilnError } from '../../errors.js';
import { Module } from '../../nn/module.js';
import { Conv3d } from '../../nn/conv.js';
import { noGrad } from '../../tensor/autograd.js';
import { randn } from '../../tensor/creation.js';
import type { Generator } from '../../tensor/random.js';
import { keep, tidy } from '../../tensor/scope.js';
import { cat } from '../../tensor/ops/shape.js';
import { padMode, upsampleNearest } from '../../tensor/ops/resample.js';
import type { Tensor } from '../../tensor/tensor.js';
import { GroupNorm } from './group-norm.js';
import { CausalAttention3d } from './vae-attention.js';
import { rampWeights, tileGrid, TileBlender, type SpatialTile } from './vae-tiling.js';
import { latentFrames, temporalDown, vaeConfig, type VaeConfig } from './vae-config.js';

/** Per-conv state of a streaming pass: the input frames each causal conv carries into the next chunk. */
export class CausalCache {
  private readonly frames = new Map<Module, Tensor>();
  private readonly seen = new Set<Module>();
  get(m: Module): Tensor | undefined {
    return this.frames.get(m);
  }
  set(m: Module, t: Tensor): void {
    const old = this.frames.get(m);
    this.frames.set(m, keep(t));
    if (old && old !== t) old.dispose();
  }
  /** True the first time a module asks (its first chunk). */
  first(m: Module): boolean {
    if (this.seen.has(m)) return false;
    this.seen.add(m);
    return true;
  }
  /** Elements held across chunks (constant in video length once every conv has seen a chunk). */
  elements(): number {
    let n = 0;
    for (const t of this.frames.values()) n += t.size;
    return n;
  }
  dispose(): void {
    for (const t of this.frames.values()) t.dispose();
    this.frames.clear();
    this.seen.clear();
  }
}

function triple(v: number | number[]): number[] {
  return typeof v === 'number' ? [v, v, v] : v;
}

/** Conv3d with causal (left, replicate-first-frame) temporal padding and symmetric zero spatial padding. */
export class CausalConv3d extends Module {
  conv: Conv3d;
  readonly kt: number;
  readonly st: number;
  constructor(cin: number, cout: number, kernel: number | number[] = 3, stride: number | number[] = 1, generator?: Generator) {
    super();
    const k = triple(kernel);
    const s = triple(stride);
    this.kt = k[0];
    this.st = s[0];
    this.conv = new Conv3d(cin, cout, k, { stride: s, padding: [0, (k[1] - 1) >> 1, (k[2] - 1) >> 1], generator });
  }

  /** x [N, C, T, H, W] → [N, Cout, 1 + (T − 1)/st, H', W'] (full pass), or the outputs this chunk completes. */
  forward(x: Tensor, cache?: CausalCache): Tensor {
    const pad = this.kt - 1;
    if (!cache) return this.conv.forward(pad > 0 ? padMode(x, [0, 0, 0, 0, pad, 0], 'replicate') : x);
    if (pad === 0 && this.st === 1) return this.conv.forward(x);
    const prev = cache.get(this) ?? (pad > 0 ? padMode(x.slice(2, 0, 1), [0, 0, 0, 0, pad - 1, 0], 'replicate') : null);
    const buf = prev ? cat([prev, x], 2) : x; // [N, C, L, H, W]
    const L = buf.shape[2];
    const n = L >= this.kt ? Math.floor((L - this.kt) / this.st) + 1 : 0;
    if (n === 0) throw new KilnError('E_SHAPE', `CausalConv3d: a chunk of ${x.shape[2]} frames completes no output window; use larger chunks`);
    const y = this.conv.forward(buf.slice(2, 0, (n - 1) * this.st + this.kt));
    cache.set(this, buf.slice(2, n * this.st).contiguous());
    return y;
  }
}

/** A GroupNorm, or none when `groups` is 0 (norm_type 'none'). */
function groupNormOrNone(groups: number, ch: number): GroupNorm | null {
  return groups > 0 ? new GroupNorm(groups, ch) : null;
}

function norm(n: GroupNorm | null, x: Tensor): Tensor {
  return n ? n.forward(x) : x;
}

export class ResnetBlock3d extends Module {
  norm1: GroupNorm | null;
  conv1: CausalConv3d;
  norm2: GroupNorm | null;
  conv2: CausalConv3d;
  conv_shortcut: CausalConv3d | null;
  /** `groups` 0: no normalisation (norm_type 'none'). */
  constructor(cin: number, cout: number, groups: number, generator?: Generator) {
    super();
    this.norm1 = groupNormOrNone(groups, cin);
    this.conv1 = new CausalConv3d(cin, cout, 3, 1, generator);
    this.norm2 = groupNormOrNone(groups, cout);
    this.conv2 = new CausalConv3d(cout, cout, 3, 1, generator);
    this.conv_shortcut = cin !== cout ? new CausalConv3d(cin, cout, 1, 1, generator) : null;
  }
  forward(x: Tensor, cache?: CausalCache): Tensor {
    let h = this.conv1.forward(norm(this.norm1, x).silu(), cache);
    h = this.conv2.forward(norm(this.norm2, h).silu(), cache);
    return (this.conv_shortcut ? this.conv_shortcut.forward(x, cache) : x).add(h);
  }
}

/**
 * Causal space(-time)-to-channel averaging, the parameter-free shortcut of a downsampler (residual autoencoding):
 * 2×2 spatial means, and in time the mean of frames (2i − 1, 2i) — frame 0 alone for the first output, exactly the
 * frames a causal stride-2 window ends on, so chunks (frame 0, then even lengths) give the full pass's result.
 */
function downShortcut(x: Tensor, temporal: boolean, first: boolean): Tensor {
  const [N, C, T, H, W] = x.shape;
  let s = x.reshape([N, C, T, H / 2, 2, W / 2, 2]).mean([4, 6]); // [N, C, T, H/2, W/2]
  if (!temporal) return s;
  const head = first ? s.slice(2, 0, 1) : null;
  const rest = first ? s.slice(2, 1) : s;
  const R = rest.shape[2];
  if (R % 2 !== 0) throw new KilnError('E_SHAPE', `VAE residual shortcut: ${R} frames after frame 0 cannot be paired; chunks after the first must have an even length`);
  const pairs = R > 0 ? rest.reshape([N, C, R / 2, 2, H / 2, W / 2]).mean(3) : null;
  s = head && pairs ? cat([head, pairs], 2) : (head ?? pairs!);
  return s;
}

/**
 * Halves H, W (and T causally when `temporal`): a strided causal conv, kernel 3 — plus, with residual autoencoding,
 * the parameter-free space-to-channel mean of its input (DC-AE, Chen et al. 2024), so a fresh block starts as
 * average pooling and the conv learns a residual.
 */
export class Downsample3d extends Module {
  conv: CausalConv3d;
  constructor(ch: number, readonly temporal: boolean, generator?: Generator, readonly residual = false) {
    super();
    this.conv = new CausalConv3d(ch, ch, 3, [temporal ? 2 : 1, 2, 2], generator);
  }
  forward(x: Tensor, cache?: CausalCache): Tensor {
    const first = !cache || cache.first(this);
    const y = this.conv.forward(x, cache);
    return this.residual ? y.add(downShortcut(x, this.temporal, first)) : y;
  }
}

/**
 * Doubles H, W (and T → 2T − 1 when `temporal`): nearest repeat, drop the first frame's duplicate, causal conv —
 * plus, with residual autoencoding, the repeated input itself (channel-to-space duplication, DC-AE).
 */
export class Upsample3d extends Module {
  conv: CausalConv3d;
  constructor(ch: number, readonly temporal: boolean, generator?: Generator, readonly residual = false) {
    super();
    this.conv = new CausalConv3d(ch, ch, 3, 1, generator);
  }
  forward(x: Tensor, cache?: CausalCache): Tensor {
    let u = upsampleNearest(x, [this.temporal ? 2 : 1, 2, 2]);
    if (this.temporal && (!cache || cache.first(this))) u = u.slice(2, 1);
    const y = this.conv.forward(u, cache);
    return this.residual ? y.add(u) : y;
  }
}

export class DownBlock3d extends Module {
  resnets: ResnetBlock3d[];
  downsamplers: Downsample3d[];
  constructor(cin: number, cout: number, layers: number, groups: number, down: 'none' | 'spatial' | 'spatiotemporal', generator?: Generator, residual = false) {
    super();
    this.resnets = Array.from({ length: layers }, (_, j) => new ResnetBlock3d(j === 0 ? cin : cout, cout, groups, generator));
    this.downsamplers = down === 'none' ? [] : [new Downsample3d(cout, down === 'spatiotemporal', generator, residual)];
  }
  forward(x: Tensor, cache?: CausalCache): Tensor {
    for (const r of this.resnets) x = r.forward(x, cache);
    for (const d of this.downsamplers) x = d.forward(x, cache);
    return x;
  }
}

export class UpBlock3d extends Module {
  resnets: ResnetBlock3d[];
  upsamplers: Upsample3d[];
  constructor(cin: number, cout: number, layers: number, groups: number, up: 'none' | 'spatial' | 'spatiotemporal', generator?: Generator, residual = false) {
    super();
    this.resnets = Array.from({ length: layers }, (_, j) => new ResnetBlock3d(j === 0 ? cin : cout, cout, groups, generator));
    this.upsamplers = up === 'none' ? [] : [new Upsample3d(cout, up === 'spatiotemporal', generator, residual)];
  }
  forward(x: Tensor, cache?: CausalCache): Tensor {
    for (const r of this.resnets) x = r.forward(x, cache);
    for (const u of this.upsamplers) x = u.forward(x, cache);
    return x;
  }
}

export class MidBlock3d extends Module {
  resnets: ResnetBlock3d[];
  /** A causal self-attention between the two ResNets when the config asks (`CausalVae3d` adds it), else empty. */
  attentions: CausalAttention3d[] = [];
  constructor(ch: number, groups: number, generator?: Generator) {
    super();
    this.resnets = [new ResnetBlock3d(ch, ch, groups, generator), new ResnetBlock3d(ch, ch, groups, generator)];
  }
  forward(x: Tensor, cache?: CausalCache): Tensor {
    x = this.resnets[0].forward(x, cache);
    for (const a of this.attentions) x = a.forward(x, cache);
    return this.resnets[1].forward(x, cache);
  }
}

/** GroupNorm groups of a config: norm_num_groups, or 0 (no normalisation) for norm_type 'none'. */
function normGroups(c: VaeConfig): number {
  return c.norm_type === 'none' ? 0 : c.norm_num_groups;
}



export class Encoder3d extends Module {
  private readonly residual: boolean;
  private readonly latent: number;
  conv_in: CausalConv3d;
  down_blocks: DownBlock3d[];
  mid_block: MidBlock3d;
  conv_norm_out: GroupNorm | null;
  conv_out: CausalConv3d;
  constructor(c: VaeConfig, generator?: Generator) {
    super();
    const ch = c.block_out_channels;
    const L = ch.length;
    const groups = normGroups(c);
    this.conv_in = new CausalConv3d(c.in_channels, ch[0], 3, 1, generator);
    this.down_blocks = ch.map((cout, i) =>
      new DownBlock3d(i === 0 ? ch[0] : ch[i - 1], cout, c.layers_per_block, groups,
        i === L - 1 ? 'none' : temporalDown(c, i) ? 'spatiotemporal' : 'spatial', generator, c.residual_autoencoding));
    this.mid_block = new MidBlock3d(ch[L - 1], groups, generator);
    this.conv_norm_out = groupNormOrNone(groups, ch[L - 1]);
    this.residual = c.residual_autoencoding;
    this.latent = c.latent_channels;
    this.conv_out = new CausalConv3d(ch[L - 1], 2 * c.latent_channels, 3, 1, generator);
  }
  /** x [N, Cin, T, H, W] → moments [N, 2·Cz, t, h, w]. */
  forward(x: Tensor, cache?: CausalCache): Tensor {
    let h = this.conv_in.forward(x, cache);
    for (const b of this.down_blocks) h = b.forward(h, cache);
    h = this.mid_block.forward(h, cache);
    return this.conv_out.forward(norm(this.conv_norm_out, h).silu(), cache);
  }
}

export class Decoder3d extends Module {
  private readonly residual: boolean;
  conv_in: CausalConv3d;
  mid_block: MidBlock3d;
  up_blocks: UpBlock3d[];
  conv_norm_out: GroupNorm | null;
  conv_out: CausalConv3d;
  constructor(c: VaeConfig, generator?: Generator) {
    super();
    const ch = c.block_out_channels;
    const L = ch.length;
    const groups = normGroups(c);
    this.conv_in = new CausalConv3d(c.latent_channels, ch[L - 1], 3, 1, generator);
    this.mid_block = new MidBlock3d(ch[L - 1], groups, generator);
    this.up_blocks = [];
    for (let i = L - 1; i >= 0; i--)
      this.up_blocks.push(new UpBlock3d(i === L - 1 ? ch[L - 1] : ch[i + 1], ch[i], c.layers_per_block + 1, groups,
        i === 0 ? 'none' : temporalDown(c, i - 1) ? 'spatiotemporal' : 'spatial', generator, c.residual_autoencoding));
    this.conv_norm_out = groupNormOrNone(groups, ch[0]);
    this.residual = c.residual_autoencoding;
    this.conv_out = new CausalConv3d(ch[0], c.out_channels, 3, 1, generator);
  }
  /** z [N, Cz, t, h, w] → video [N, Cout, 1 + r_t·(t − 1), h·r_s, w·r_s]. */
  forward(z: Tensor, cache?: CausalCache): Tensor {
    let h = this.conv_in.forward(z, cache);
    if (this.residual) {
      // residual autoencoding: each latent channel duplicated over its group of C / Cz channels
      const [N, Cz, t, hh, ww] = z.shape;
      const C = h.shape[1];
      h = h.add(z.unsqueeze(2).expand([N, Cz, C / Cz, t, hh, ww]).reshape([N, C, t, hh, ww]));
    }
    h = this.mid_block.forward(h, cache);
    for (const b of this.up_blocks) h = b.forward(h, cache);
    return this.conv_out.forward(norm(this.conv_norm_out, h).silu(), cache);
  }
}

/** q(z | x) = N(mean, exp(logvar)) per element. */
export class DiagonalGaussian {
  readonly mean: Tensor;
  readonly logvar: Tensor;
  constructor(moments: Tensor) {
    const [m, lv] = moments.chunk(2, 1);
    this.mean = m; // [N, Cz, t, h, w]
    this.logvar = lv.clamp(-30, 20);
  }
  sample(generator?: Generator): Tensor {
    const eps = randn(this.mean.shape, { generator });
    return this.mean.add(this.logvar.mul(0.5).exp().mul(eps));
  }
  /** KL(q ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²), averaged over every latent element. */
  kl(): Tensor {
    return this.mean.square().add(this.logvar.exp()).sub(1).sub(this.logvar).mul(0.5).mean();
  }
}

/**
 * Spatial tiling of a chunked encode/decode, in video pixels (multiples of the spatial compression ratio): tiles of
 * `tileSize` × `tileSize` overlapping by `tileOverlap` (default a quarter tile), blended linearly across the overlap.
 * Without `tileSize` the whole frame is one tile (exactly the untiled pass).
 */
export interface VaeTileOptions {
  tileSize?: number;
  tileOverlap?: number;
}

export interface VaeLoss {
  loss: Tensor;
  recon: Tensor;
  kl: Tensor;
  output: Tensor;
}

export class CausalVae3d extends Module {
  readonly config: VaeConfig;
  encoder: Encoder3d;
  decoder: Decoder3d;

  constructor(config: Partial<VaeConfig> | string = {}, { generator }: { generator?: Generator } = {}) {
    super();
    this.config = vaeConfig(config);
    this.encoder = new Encoder3d(this.config, generator);
    this.decoder = new Decoder3d(this.config, generator);
    if (this.config.norm_type === 'none') this.fixupInit(generator);
    if (this.config.mid_block_add_attention) this.addAttention(generator);
  }

  /**
   * The mid-block attentions (`mid_block_add_attention`), built after the convolutions are initialised, so with
   * the same seed the convolutions start identical with or without them (an ablation compares like with like).
   * Their GroupNorm has norm_num_groups groups whatever norm_type; with the Fixup init (norm_type 'none') `to_out`
   * starts at zero, so a fresh block is the identity.
   */
  private addAttention(generator?: Generator): void {
    const ch = this.config.block_out_channels[this.config.block_out_channels.length - 1];
    for (const mid of [this.encoder.mid_block, this.decoder.mid_block]) {
      const a = new CausalAttention3d(ch, this.config.norm_num_groups, generator);
      if (this.config.norm_type === 'none') noGrad(() => { for (const t of [a.to_out[0].weight, a.to_out[0].bias]) if (t) (t.data() as Float32Array).fill(0); });
      mid.attentions = [a];
    }
  }

  /**
   * The initialisation a VAE without normalisation trains from (Fixup, Zhang et al. 2019, in its simplest form):
   * every conv variance-preserving N(0, 1/fan_in) with zero bias — the convs on the main path (conv_in, shortcuts,
   * down/upsamplers, conv_out) are linear maps of the stream, so a larger gain would compound level by level —, the
   * last conv of every residual branch zero (a fresh block is the identity), and the log-variance half of the
   * encoder's conv_out biased to −6 (σ ≈ 0.05: the decoder sees the posterior mean, not noise, from the first step).
   */
  private fixupInit(generator?: Generator): void {
    noGrad(() => {
      const visit = (m: Module): void => {
        for (const [, c] of m.namedChildren()) {
          if (c instanceof CausalConv3d) {
            const w = c.conv.weight;
            const fanIn = w.size / w.shape[0];
            const r = randn(w.shape, { generator }).mul(Math.sqrt(1 / fanIn));
            (w.data() as Float32Array).set(r.data() as Float32Array);
            r.dispose();
            if (c.conv.bias) (c.conv.bias.data() as Float32Array).fill(0);
          } else visit(c);
          if (c instanceof ResnetBlock3d) (c.conv2.conv.weight.data() as Float32Array).fill(0);
        }
      };
      visit(this);
      const b = this.encoder.conv_out.conv.bias;
      if (b) (b.data() as Float32Array).fill(-6, this.config.latent_channels);
    });
  }

  private checkVideo(x: Tensor): void {
    const c = this.config;
    if (x.ndim !== 5 || x.shape[1] !== c.in_channels || x.shape[3] % c.spatial_compression_ratio !== 0 || x.shape[4] % c.spatial_compression_ratio !== 0)
      throw new KilnError('E_SHAPE', `VAE: video must be [N, ${c.in_channels}, T, H, W] with H and W multiples of ${c.spatial_compression_ratio}, got [${x.shape}]`);
    latentFrames(c, x.shape[2]);
  }

  /** Full-pass posterior of x [N, C, T, H, W] (T = 1 + r_t·k). */
  encode(x: Tensor): DiagonalGaussian {
    this.checkVideo(x);
    return new DiagonalGaussian(this.encoder.forward(x));
  }

  /** Full-pass decode of z [N, Cz, t, h, w]. */
  decode(z: Tensor): Tensor {
    return this.decoder.forward(z);
  }

  /**
   * Streaming encode (inference, no gradient): frame 0 alone, then chunks of `chunkFrames` frames (a multiple of
   * r_t); returns the posterior moments [N, 2·Cz, t, h, w], equal to the full pass. With `tiles.tileSize` each chunk
   * is also cut into overlapping spatial tiles (see `VaeTileOptions`), blended in latent space.
   */
  encodeChunked(x: Tensor, chunkFrames = this.config.temporal_compression_ratio, tiles: VaeTileOptions = {}): Tensor {
    this.checkVideo(x);
    const r = this.config.temporal_compression_ratio;
    if (chunkFrames % r !== 0 || chunkFrames < r) throw new KilnError('E_ARG', `VAE.encodeChunked: chunkFrames ${chunkFrames} must be a positive multiple of ${r}`);
    const T = x.shape[2];
    const bounds: [number, number][] = [[0, 1]];
    for (let s = 1; s < T; s += chunkFrames) bounds.push([s, Math.min(T, s + chunkFrames)]);
    return this.collected((emit) => this.pass('encoder', x, bounds, tiles, emit));
  }

  /**
   * Streaming decode (no gradient): `chunkLatents` latent frames at a time; equals `decode`. With `tiles.tileSize`
   * each chunk is also decoded in overlapping spatial tiles (see `VaeTileOptions`), blended in pixel space.
   */
  decodeChunked(z: Tensor, chunkLatents = 1, tiles: VaeTileOptions = {}): Tensor {
    return this.collected((emit) => this.decodeStream(z, emit, { chunkLatents, ...tiles }));
  }

  /**
   * Streaming decode that hands every decoded chunk [N, C, frames, H, W] to `onFrames` (with the index of its first
   * frame) instead of concatenating them, so peak memory is one chunk (× tiles) plus the causal caches, whatever the
   * video length. The chunk tensor is disposed after `onFrames` returns (copy what must outlive the call).
   */
  decodeStream(z: Tensor, onFrames: (frames: Tensor, start: number) => void, { chunkLatents = 1, ...tiles }: { chunkLatents?: number } & VaeTileOptions = {}): void {
    if (z.ndim !== 5 || z.shape[1] !== this.config.latent_channels)
      throw new KilnError('E_SHAPE', `VAE.decode: latents must be [N, ${this.config.latent_channels}, t, h, w], got [${z.shape}]`);
    if (!Number.isInteger(chunkLatents) || chunkLatents < 1) throw new KilnError('E_ARG', `VAE.decodeChunked: chunkLatents must be a positive integer, got ${chunkLatents}`);
    const t = z.shape[2];
    const bounds: [number, number][] = [];
    for (let s = 0; s < t; s += chunkLatents) bounds.push([s, Math.min(t, s + chunkLatents)]);
    let start = 0;
    this.pass('decoder', z, bounds, tiles, (y) => {
      onFrames(y, start);
      start += y.shape[2];
    });
  }

  /** Runs `produce`, concatenating what it emits along time. */
  private collected(produce: (emit: (y: Tensor) => void) => void): Tensor {
    const parts: Tensor[] = [];
    try {
      produce((y) => parts.push(keep(y.clone())));
      return parts.length === 1 ? parts[0] : cat(parts, 2);
    } finally {
      if (parts.length > 1) for (const p of parts) p.dispose();
    }
  }

  /**
   * The streaming engine: one `CausalCache` per spatial tile; for every time chunk, every tile runs through `net`
   * with its cache, and the tiles are blended (a single whole-frame tile skips blending, so the untiled pass is
   * unchanged). `emit` gets each chunk's output, disposed when it returns.
   */
  private pass(net: 'encoder' | 'decoder', input: Tensor, bounds: [number, number][], tiles: VaeTileOptions, emit: (y: Tensor) => void): void {
    const s = this.config.spatial_compression_ratio;
    const dec = net === 'decoder';
    const module = dec ? this.decoder : this.encoder;
    const [H, W] = [input.shape[3], input.shape[4]];
    const { rows, cols } = this.tileLayout(dec ? H * s : H, dec ? W * s : W, tiles);
    const k = dec ? 1 / s : 1; // video pixels → input units
    const m = dec ? s : 1 / s; // input units → output units
    noGrad(() => {
      const caches = rows.map(() => cols.map(() => new CausalCache()));
      try {
        for (const [a, b] of bounds) {
          if (rows.length === 1 && cols.length === 1) {
            const y = tidy(() => module.forward(input.slice(2, a, b), caches[0][0]));
            try { emit(y); } finally { y.dispose(); }
            continue;
          }
          let blend: TileBlender | null = null;
          rows.forEach((r, i) => cols.forEach((c, j) => {
            const y = tidy(() => module.forward(input.slice(2, a, b).slice(3, r.start * k, (r.start + r.len) * k).slice(4, c.start * k, (c.start + c.len) * k), caches[i][j]));
            blend ??= new TileBlender([y.shape[0], y.shape[1], y.shape[2], H * m, W * m]);
            blend.add(y, r.start * k * m, c.start * k * m, rampWeights(r.len * k * m, r.before * k * m, r.after * k * m), rampWeights(c.len * k * m, c.before * k * m, c.after * k * m));
            y.dispose();
          }));
          const out = (blend as TileBlender | null)!.result();
          try { emit(out); } finally { out.dispose(); }
        }
      } finally {
        for (const row of caches) for (const c of row) c.dispose();
      }
    });
  }

  /** Tile rows and columns in video pixels (one whole-frame tile without `tileSize`). */
  private tileLayout(H: number, W: number, { tileSize, tileOverlap }: VaeTileOptions): { rows: SpatialTile[]; cols: SpatialTile[] } {
    const s = this.config.spatial_compression_ratio;
    if (tileSize === undefined) return { rows: tileGrid(H, H, 0, 1), cols: tileGrid(W, W, 0, 1) };
    const overlap = tileOverlap ?? Math.max(s, Math.round(tileSize / 4 / s) * s);
    if (tileSize % s !== 0 || overlap % s !== 0)
      throw new KilnError('E_ARG', `VAE tiling: tileSize ${tileSize} and tileOverlap ${overlap} must be multiples of the spatial compression ratio ${s}`);
    return { rows: tileGrid(H, tileSize, overlap, s), cols: tileGrid(W, tileSize, overlap, s) };
  }

  /**
   * Training objective on x [N, C, T, H, W] in [−1, 1]: mean squared reconstruction error of decode(z), z ~ q(z|x),
   * plus klWeight · KL(q ‖ N(0, I)) (both per element).
   */
  loss(x: Tensor, { klWeight = 1e-6, generator }: { klWeight?: number; generator?: Generator } = {}): VaeLoss {
    const post = this.encode(x);
    const output = this.decode(post.sample(generator));
    const recon = output.sub(x).square().mean();
    const kl = post.kl();
    return { loss: recon.add(kl.mul(klWeight)), recon, kl, output };
  }
}
