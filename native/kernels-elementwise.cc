// Elementwise drivers and bindings: unary, binary (broadcast strides), binaryScalar, where, copy (any element size)
// and fill. Views arrive as (typed array, element offset) plus a packed Float64Array of shape and strides; the driver
// validates bounds, coalesces dims, and walks rows: a row whose inner strides are 0 or 1 goes straight to the
// active ISA's row kernel (kernels.h), any other stride is first gathered into a small per-thread buffer. Large
// inputs are split over the thread pool by rows (or by chunks of one long row); small ones stay on the caller.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels-args.h"
#include "kernels-bindings.h"
#include "kernels-strided.h"
#include "kernels.h"
#include "thread-pool.h"

namespace kiln {

bool parseStrided(KArgs& a, size_t di, int nops, const int64_t* offsets, const int64_t* lengths,
                  const char* const* names, Strided* s) {
  double* dims = nullptr;
  int64_t dn = 0;
  if (!a.f64Array(di, "dims", &dims, &dn)) return false;
  if (dn < 1 || !(dims[0] >= 0 && dims[0] <= kMaxRank) || dims[0] != static_cast<int64_t>(dims[0]))
    return a.fail("dims[0] (the rank) must be an integer in [0, " + std::to_string(kMaxRank) + "]");
  const int nd = static_cast<int>(dims[0]);
  if (dn < 1 + nd * (1 + nops))
    return a.fail("dims holds " + std::to_string(dn) + " numbers but rank " + std::to_string(nd) + " with " +
                  std::to_string(nops) + " operands needs " + std::to_string(1 + nd * (1 + nops)));
  s->nd = nd;
  s->nops = nops;
  s->total = 1;
  const double lim = 9007199254740991.0;
  for (int d = 0; d < nd; ++d) {
    const double v = dims[1 + d];
    if (!(v >= 0 && v <= lim) || v != static_cast<double>(static_cast<int64_t>(v)))
      return a.fail("shape[" + std::to_string(d) + "] must be a non-negative integer");
    s->shape[d] = static_cast<int64_t>(v);
  }
  for (int o = 0; o < nops; ++o)
    for (int d = 0; d < nd; ++d) {
      const double v = dims[1 + nd * (1 + o) + d];
      if (!(v >= -lim && v <= lim) || v != static_cast<double>(static_cast<int64_t>(v)))
        return a.fail(std::string("strides of ") + names[o] + " must be integers");
      s->st[o][d] = static_cast<int64_t>(v);
    }
  __int128 total = 1;
  for (int d = 0; d < nd; ++d) total *= s->shape[d];
  if (total > (static_cast<__int128>(1) << 53)) return a.fail("shape has too many elements");
  s->total = static_cast<int64_t>(total);
  for (int o = 0; o < 3; ++o) s->off[o] = o < nops ? offsets[o] : 0;
  if (s->total == 0) return true;
  for (int o = 0; o < nops; ++o) {
    __int128 lo = offsets[o], hi = offsets[o];
    for (int d = 0; d < nd; ++d) {
      const __int128 span = static_cast<__int128>(s->shape[d] - 1) * s->st[o][d];
      if (span < 0) lo += span;
      else hi += span;
    }
    if (lo < 0 || hi >= lengths[o])
      return a.fail(std::string("view ") + names[o] + " reaches elements [" +
                    std::to_string(static_cast<long long>(lo)) + ", " + std::to_string(static_cast<long long>(hi)) +
                    "] but its array has length " + std::to_string(lengths[o]) +
                    "; check the view's offset, shape and strides");
  }
  return true;
}

void coalesce(Strided* s) {
  int nd = 0;
  for (int d = 0; d < s->nd; ++d) {
    if (s->shape[d] == 1) continue;
    if (nd > 0) {
      bool merge = true;
      for (int o = 0; o < s->nops; ++o)
        if (s->st[o][nd - 1] != s->st[o][d] * s->shape[d]) merge = false;
      if (merge) {
        s->shape[nd - 1] *= s->shape[d];
        for (int o = 0; o < s->nops; ++o) s->st[o][nd - 1] = s->st[o][d];
        continue;
      }
    }
    s->shape[nd] = s->shape[d];
    for (int o = 0; o < s->nops; ++o) s->st[o][nd] = s->st[o][d];
    ++nd;
  }
  if (nd == 0) {  // a single element
    s->shape[0] = 1;
    for (int o = 0; o < s->nops; ++o) s->st[o][0] = 0;
    nd = 1;
  }
  s->nd = nd;
}

namespace {

constexpr int64_t kChunk = 1024;  // gather buffer (floats) for rows with a non-unit inner stride
thread_local float tlsGather[3][kChunk];

// Parallel over the rows of s, each row split in pieces of at most kChunk when an operand must be gathered.
// fn(ptrs, strides, out, n): ptrs[k] with stride 0 or 1.
// With unitOnly the kernel takes no strides: stride-0 (broadcast) operands are expanded into the buffer as well.
template <class Fn>
void runRows(const Strided& s, const float* const* data, float* out, int64_t grain, bool unitOnly, Fn fn) {
  const int64_t len = s.len();
  const int64_t rows = s.rows();
  if (s.total == 0) return;
  bool direct = true;
  for (int o = 0; o < s.nops; ++o)
    if (s.st[o][s.nd - 1] != 1 && (unitOnly || s.st[o][s.nd - 1] != 0)) direct = false;
  auto rowPiece = [&](const int64_t* offs, int64_t c0, int64_t c1, float* o) {
    const float* p[3] = {nullptr, nullptr, nullptr};
    int64_t ps[3] = {0, 0, 0};
    for (int k = 0; k < s.nops; ++k) {
      const int64_t st = s.st[k][s.nd - 1];
      const float* base = data[k] + offs[k];
      if (st == 1 || (st == 0 && !unitOnly)) {
        p[k] = base + c0 * st;
        ps[k] = st;
      } else {
        float* g = tlsGather[k];
        for (int64_t i = c0; i < c1; ++i) g[i - c0] = base[i * st];
        p[k] = g;
        ps[k] = 1;
      }
    }
    fn(p, ps, o, c1 - c0);
  };
  auto row = [&](int64_t r, const int64_t* offs) {
    float* o = out + r * len;
    if (direct) rowPiece(offs, 0, len, o);
    else
      for (int64_t c = 0; c < len; c += kChunk) rowPiece(offs, c, std::min(len, c + kChunk), o + c);
  };
  if (rows == 1) {
    // One long row: split it into contiguous pieces.
    const int64_t pieceGrain = direct ? grain : std::max<int64_t>(grain, kChunk);
    parallelFor(len, pieceGrain, numThreads(), [&](int64_t c0, int64_t c1) {
      int64_t offs[3] = {s.off[0], s.off[1], s.off[2]};
      if (direct) rowPiece(offs, c0, c1, out + c0);
      else
        for (int64_t c = c0; c < c1; c += kChunk) rowPiece(offs, c, std::min(c1, c + kChunk), out + c);
    });
    return;
  }
  const int64_t rowGrain = std::max<int64_t>(1, grain / std::max<int64_t>(len, 1));
  parallelFor(rows, rowGrain, numThreads(), [&](int64_t r0, int64_t r1) { forRows(s, r0, r1, row); });
}

// Elements per thread before splitting: cheap ops need more work to pay for waking the pool.
int64_t unaryGrain(int64_t op) {
  switch (op) {
    case kNeg: case kAbs: case kSquare: case kRelu: case kSign: case kSqrt: case kReciprocal: return 32768;
    default: return 4096;
  }
}


template <class T>
void copyRow(const T* src, int64_t ss, T* dst, int64_t ds, int64_t n) {
  if (ss == 1 && ds == 1) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
  else if (ds == 1)
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * ss];
  else
    for (int64_t i = 0; i < n; ++i) dst[i * ds] = src[i * ss];
}

// A transposing copy (the source's unit stride is on the second-to-last dim, not the last): 32 x 32 tiles, read
// down columns of the source and written along rows of the destination, so both stay within a few cache lines.
template <class T>
void copyTransposed(const Strided& s, const T* sp, T* dp, int64_t grain) {
  constexpr int64_t B = 32;
  const int nd = s.nd;
  const int64_t ni = s.shape[nd - 2], nj = s.shape[nd - 1];
  const int64_t ssi = s.st[0][nd - 2], ssj = s.st[0][nd - 1], dsi = s.st[1][nd - 2], dsj = s.st[1][nd - 1];
  Strided planes = s;  // iterate the dims before the last two: rows of the (nd - 1)-dim view are planes
  planes.nd = nd - 1;
  const int64_t nPlanes = s.total / (ni * nj);
  const int64_t tilesI = (ni + B - 1) / B;
  parallelFor(nPlanes * tilesI, std::max<int64_t>(1, grain / (B * nj)), numThreads(), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p = t / tilesI, i0 = (t % tilesI) * B, i1 = std::min(ni, i0 + B);
      forRows(planes, p, p + 1, [&](int64_t, const int64_t* offs) {
        const T* sb = sp + offs[0];
        T* db = dp + offs[1];
        for (int64_t j0 = 0; j0 < nj; j0 += B) {
          const int64_t j1 = std::min(nj, j0 + B);
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j) db[i * dsi + j * dsj] = sb[i * ssi + j * ssj];
        }
      });
    }
  });
}

template <class T>
void copyStrided(const Strided& s, const void* src, void* dst) {
  const T* sp = static_cast<const T*>(src);
  T* dp = static_cast<T*>(dst);
  const int64_t len = s.len();
  const int last = s.nd > 0 ? s.nd - 1 : 0;  // coalesce() leaves nd >= 1
  const int64_t ss = s.st[0][last], ds = s.st[1][last];
  const int64_t grain = (int64_t{1} << 18) / static_cast<int64_t>(sizeof(T));  // 256 KiB per thread
  if (s.nd >= 2 && ss != 1 && s.st[0][s.nd - 2] == 1 && s.shape[s.nd - 2] >= 8 && len >= 8) {
    copyTransposed(s, sp, dp, grain);
    return;
  }
  if (s.rows() == 1) {
    parallelFor(len, grain, numThreads(), [&](int64_t c0, int64_t c1) {
      copyRow(sp + s.off[0] + c0 * ss, ss, dp + s.off[1] + c0 * ds, ds, c1 - c0);
    });
    return;
  }
  parallelFor(s.rows(), std::max<int64_t>(1, grain / std::max<int64_t>(len, 1)), numThreads(),
              [&](int64_t r0, int64_t r1) {
                forRows(s, r0, r1, [&](int64_t, const int64_t* offs) {
                  copyRow(sp + offs[0], ss, dp + offs[1], ds, len);
                });
              });
}


// A transposed view (unit stride on the second-to-last dim): copies it into out with cache-friendly tiles and
// returns a contiguous view of out, so the caller can map out in place. False when the view is not like that.
bool transposedInto(const Strided& s, const float* x, float* out, Strided* dense) {
  const int nd = s.nd;
  if (nd < 2 || s.st[0][nd - 1] == 1 || s.st[0][nd - 2] != 1 || s.shape[nd - 2] < 8 || s.len() < 8) return false;
  Strided c = s;
  c.nops = 2;
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    c.st[1][d] = acc;
    acc *= s.shape[d];
  }
  c.off[1] = 0;
  copyTransposed<float>(c, x, out, 65536);
  *dense = Strided();
  dense->nd = 1;
  dense->nops = 1;
  dense->shape[0] = s.total;
  dense->st[0][0] = 1;
  dense->off[0] = dense->off[1] = dense->off[2] = 0;
  dense->total = s.total;
  return true;
}
}  // namespace

// unary(op, x, xOff, dims [nd, shape, xStrides], out)
napi_value UnaryBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "unary", 5);
  int64_t op = 0, xOff = 0, xn = 0, on = 0;
  float *x = nullptr, *out = nullptr;
  if (!a.ok() || !a.i64(0, "op", 0, &op, kUnaryCount - 1) || !a.f32(1, "x", &x, &xn) || !a.i64(2, "xOff", 0, &xOff) ||
      !a.f32(4, "out", &out, &on))
    return nullptr;
  const char* names[] = {"x"};
  Strided s;
  if (!parseStrided(a, 3, 1, &xOff, &xn, names, &s) || !a.need("out", on, s.total, "the view's shape")) return nullptr;
  coalesce(&s);
  const KernelTable& k = kernelsActive();
  const float* data[] = {x};
  Strided dense;
  if (transposedInto(s, x, out, &dense)) {
    s = dense;
    data[0] = out;  // mapped in place: each kernel reads a position before writing it
  }
  runRows(s, data, out, unaryGrain(op), true, [&](const float* const* p, const int64_t*, float* o, int64_t n) {
    k.unary(static_cast<int>(op), p[0], o, n);
  });
  return undefinedValue(env);
}

// binary(op, a, aOff, b, bOff, dims [nd, shape, aStrides, bStrides], out)
napi_value BinaryBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "binary", 7);
  int64_t op = 0, offs[2] = {0, 0}, lens[2] = {0, 0}, on = 0;
  float *x = nullptr, *y = nullptr, *out = nullptr;
  if (!a.ok() || !a.i64(0, "op", 0, &op, kBinaryCount - 1) || !a.f32(1, "a", &x, &lens[0]) ||
      !a.i64(2, "aOff", 0, &offs[0]) || !a.f32(3, "b", &y, &lens[1]) || !a.i64(4, "bOff", 0, &offs[1]) ||
      !a.f32(6, "out", &out, &on))
    return nullptr;
  const char* names[] = {"a", "b"};
  Strided s;
  if (!parseStrided(a, 5, 2, offs, lens, names, &s) || !a.need("out", on, s.total, "the broadcast shape"))
    return nullptr;
  coalesce(&s);
  const KernelTable& k = kernelsActive();
  const float* data[] = {x, y};
  runRows(s, data, out, op == kPow ? 4096 : 32768, false, [&](const float* const* p, const int64_t* ps, float* o, int64_t n) {
    k.binary(static_cast<int>(op), p[0], ps[0], p[1], ps[1], o, n);
  });
  return undefinedValue(env);
}

// binaryScalar(op, a, aOff, dims [nd, shape, aStrides], s, scalarFirst, out)
napi_value BinaryScalarBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "binaryScalar", 7);
  int64_t op = 0, off = 0, len = 0, on = 0;
  float *x = nullptr, *out = nullptr;
  double sv = 0;
  bool first = false;
  if (!a.ok() || !a.i64(0, "op", 0, &op, kBinaryCount - 1) || !a.f32(1, "a", &x, &len) || !a.i64(2, "aOff", 0, &off) ||
      !a.f64(4, "s", &sv) || !a.boolean(5, "scalarFirst", &first) || !a.f32(6, "out", &out, &on))
    return nullptr;
  const char* names[] = {"a"};
  Strided s;
  if (!parseStrided(a, 3, 1, &off, &len, names, &s) || !a.need("out", on, s.total, "the view's shape")) return nullptr;
  coalesce(&s);
  const KernelTable& k = kernelsActive();
  const float* data[] = {x};
  Strided dense;
  if (transposedInto(s, x, out, &dense)) {
    s = dense;
    data[0] = out;
  }
  runRows(s, data, out, op == kPow ? 4096 : 32768, true, [&](const float* const* p, const int64_t*, float* o, int64_t n) {
    k.binaryScalar(static_cast<int>(op), p[0], sv, first, o, n);
  });
  return undefinedValue(env);
}

// where(cond, cOff, a, aOff, b, bOff, dims [nd, shape, cStrides, aStrides, bStrides], out)
napi_value WhereBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "where", 8);
  int64_t offs[3] = {0, 0, 0}, lens[3] = {0, 0, 0}, on = 0;
  float *c = nullptr, *x = nullptr, *y = nullptr, *out = nullptr;
  if (!a.ok() || !a.f32(0, "cond", &c, &lens[0]) || !a.i64(1, "cOff", 0, &offs[0]) || !a.f32(2, "a", &x, &lens[1]) ||
      !a.i64(3, "aOff", 0, &offs[1]) || !a.f32(4, "b", &y, &lens[2]) || !a.i64(5, "bOff", 0, &offs[2]) ||
      !a.f32(7, "out", &out, &on))
    return nullptr;
  const char* names[] = {"cond", "a", "b"};
  Strided s;
  if (!parseStrided(a, 6, 3, offs, lens, names, &s) || !a.need("out", on, s.total, "the broadcast shape"))
    return nullptr;
  coalesce(&s);
  const KernelTable& k = kernelsActive();
  const float* data[] = {c, x, y};
  runRows(s, data, out, 32768, false, [&](const float* const* p, const int64_t* ps, float* o, int64_t n) {
    k.where(p[0], ps[0], p[1], ps[1], p[2], ps[2], o, n);
  });
  return undefinedValue(env);
}


// copy(src, srcOff, dst, dstOff, dims [nd, shape, srcStrides, dstStrides]): same-type typed arrays.
napi_value CopyBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "copy", 5);
  TypedView src{}, dst{};
  int64_t offs[2] = {0, 0};
  if (!a.ok() || !a.typed(0, "src", &src) || !a.i64(1, "srcOff", 0, &offs[0]) || !a.typed(2, "dst", &dst) ||
      !a.i64(3, "dstOff", 0, &offs[1]))
    return nullptr;
  if (src.type != dst.type || src.elemBytes != dst.elemBytes) {
    a.fail("src and dst must be typed arrays of the same kind");
    return nullptr;
  }
  const int64_t lens[2] = {src.length, dst.length};
  const char* names[] = {"src", "dst"};
  Strided s;
  if (!parseStrided(a, 4, 2, offs, lens, names, &s)) return nullptr;
  if (s.total == 0) return undefinedValue(env);
  coalesce(&s);
  switch (src.elemBytes) {
    case 1: copyStrided<uint8_t>(s, src.data, dst.data); break;
    case 2: copyStrided<uint16_t>(s, src.data, dst.data); break;
    case 4: copyStrided<uint32_t>(s, src.data, dst.data); break;
    default: copyStrided<uint64_t>(s, src.data, dst.data); break;
  }
  return undefinedValue(env);
}

// fill(out, value, start, end): out[start, end) = f32(value).
napi_value FillBinding(napi_env env, napi_callback_info info) {
  KArgs a(env, info, "fill", 4);
  float* out = nullptr;
  int64_t n = 0, start = 0, end = 0;
  double v = 0;
  if (!a.ok() || !a.f32(0, "out", &out, &n) || !a.f64(1, "value", &v) || !a.i64(2, "start", 0, &start, n) ||
      !a.i64(3, "end", start, &end, n))
    return nullptr;
  const float f = static_cast<float>(v);
  parallelFor(end - start, int64_t{1} << 18, numThreads(),
              [&](int64_t b, int64_t e) { std::fill(out + start + b, out + start + e, f); });
  return undefinedValue(env);
}

}  // namespace kiln
