/**
 * Reverse-mode autograd. While grad mode is on, an op whose input requires grad records a node on its output:
 * the inputs and a vector-Jacobian product written beside the op's forward. `backward(root)` orders the graph
 * topologically, runs each VJP once in reverse (with grad mode off), sums fan-in, accumulates into leaves' `.grad`
 * like PyTorch, and frees the graph.
 */
import { KilnError } from '../errors.js';
import { keep, tidy } from './scope.js';
import type { Tensor } from './tensor.js';

export type Vjp = (grad: Tensor) => readonly (Tensor | null | undefined)[];

export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly vjp: Vjp;
}

let gradEnabled = true;
let opTrace: Set<string> | null = null;

/** Starts (or, with null, stops) collecting the names of ops that record gradients; tests use it to prove coverage. */
export function traceOps(set: Set<string> | null): void {
  opTrace = set;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` with gradient recording off (inference). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` with gradient recording on. */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attaches a grad node to `out` when recording and some input requires grad. Returns `out`. */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], vjp: Vjp): Tensor {
  if (!gradEnabled) return out;
  opTrace?.add(op);
  for (const t of inputs) {
    if (t.requiresGrad) {
      out.requiresGrad = true;
      out.node = { op, inputs, vjp };
      return out;
    }
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top[0].node?.inputs ?? [];
    if (top[1] < inputs.length) {
      const c = inputs[top[1]++];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(top[0]);
    }
  }
  return order.reverse();
}

/** Computes gradients of `root` (a scalar, or any shape with an explicit `grad`) w.r.t. every leaf requiring grad. */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad)
    throw new KilnError('E_AUTOGRAD', 'backward(): the tensor does not require grad (no input had requiresGrad = true, or it was computed under noGrad)');
  if (!grad && root.size !== 1)
    throw new KilnError('E_AUTOGRAD', `backward(): a non-scalar tensor of shape [${root.shape}] needs an explicit gradient argument`);
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  const { ones } = root.constructor as unknown as { ones(shape: readonly number[]): Tensor };
  grads.set(root, grad ?? keep(ones(root.shape)));
  const prevMode = gradEnabled;
  gradEnabled = false;
  try {
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (node) {
        const gs = tidy(() => node.vjp(g));
        const used = new Set<Tensor>([g]);
        for (let i = 0; i < node.inputs.length; i++) {
          const x = node.inputs[i];
          let gx = gs[i];
          if (!gx || !x.requiresGrad) {
            if (gx && !used.has(gx)) gx.dispose();
            continue;
          }
          // A VJP may pass its incoming gradient through (add) or return one tensor twice: give each its own handle.
          if (used.has(gx)) gx = gx.alias();
          used.add(gx);
          if (gx.ndim !== x.ndim || gx.shape.some((d, k) => d !== x.shape[k]))
            throw new KilnError('E_AUTOGRAD', `gradient of '${node.op}' input ${i} has shape [${gx.shape}] but the input has [${x.shape}] (a bug in the op's vjp)`);
          const prev = grads.get(x);
          if (prev) {
            grads.set(x, keep(prev.add(gx)));
            prev.dispose();
            gx.dispose();
          } else grads.set(x, keep(gx));
        }
        t.node = null;
        if (g !== grad) g.dispose();
      } else {
        // a leaf: accumulate into .grad (always a contiguous tensor the leaf owns)
        if (t.grad) {
          const sum = keep(t.grad.add(g));
          t.grad.dispose();
          t.grad = sum;
        } else if (g === grad || !g.isContiguous) t.grad = keep(g.clone());
        else {
          t.grad = g;
          continue;
        }
        if (g !== grad) g.dispose();
      }
    }
  } finally {
    gradEnabled = prevMode;
    for (const g of grads.values()) if (g !== grad) g.dispose();
  }
}
