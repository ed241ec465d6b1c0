/**
 * Synthetic clips for the VAE tests: a coloured square or disc moving in a straight line over a flat background,
 * rendered as [N, 3, T, H, W] in [−1, 1]. Seeded (every clip is a function of the generator state), so train and
 * held-out sets are two seeds. (`kiln train vae` trains on the captioned demo clips instead.)
 */
import { fromArray } from '../../src/tensor/creation.js';
import type { Generator } from '../../src/tensor/random.js';
import type { Tensor } from '../../src/tensor/tensor.js';

interface ClipSpec {
  shape: 'square' | 'disc';
  /** RGB in [−1, 1]. */
  color: [number, number, number];
  background: [number, number, number];
  /** Start centre (pixels) and velocity (pixels per frame). */
  x0: number;
  y0: number;
  vx: number;
  vy: number;
  radius: number;
}

function randomClipSpec(H: number, W: number, gen: Generator): ClipSpec {
  const col = (): [number, number, number] => [gen.uniform() * 2 - 1, gen.uniform() * 2 - 1, gen.uniform() * 2 - 1];
  const radius = Math.max(2, Math.min(H, W) * (0.15 + 0.15 * gen.uniform()));
  return {
    shape: gen.uniform() < 0.5 ? 'square' : 'disc',
    color: col(),
    background: col().map((c) => c * 0.5) as [number, number, number],
    x0: W * (0.25 + 0.5 * gen.uniform()),
    y0: H * (0.25 + 0.5 * gen.uniform()),
    vx: (gen.uniform() * 2 - 1) * 1.5,
    vy: (gen.uniform() * 2 - 1) * 1.5,
    radius,
  };
}

/** Renders one clip into out (offset of a [3, T, H, W] block). */
function renderClip(spec: ClipSpec, T: number, H: number, W: number, out: Float32Array, offset = 0): void {
  for (let t = 0; t < T; t++) {
    const cx = spec.x0 + spec.vx * t;
    const cy = spec.y0 + spec.vy * t;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const dx = j + 0.5 - cx;
        const dy = i + 0.5 - cy;
        const inside = spec.shape === 'square' ? Math.abs(dx) <= spec.radius && Math.abs(dy) <= spec.radius : dx * dx + dy * dy <= spec.radius * spec.radius;
        for (let c = 0; c < 3; c++) out[offset + ((c * T + t) * H + i) * W + j] = inside ? spec.color[c] : spec.background[c];
      }
    }
  }
}

/** A batch of N random moving-shape clips [N, 3, T, H, W]. */
export function movingShapes(N: number, T: number, H: number, W: number, gen: Generator): Tensor {
  const out = new Float32Array(N * 3 * T * H * W);
  for (let n = 0; n < N; n++) renderClip(randomClipSpec(H, W, gen), T, H, W, out, n * 3 * T * H * W);
  return fromArray(out, [N, 3, T, H, W]);
}
