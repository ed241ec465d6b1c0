// CPU feature detection and the run-time ISA choice for Kiln's native kernels.
//
// Contract: bestIsa() is the widest instruction set this CPU (and OS, via XSAVE state) supports among
// AVX-512 (F+BW+DQ+VL), AVX2+FMA and scalar. activeIsa() is what kernels dispatch on: bestIsa() lowered by the
// KILN_ISA environment variable (avx512 | avx2 | scalar) read once at first use, or by setActiveIsa() (tests).
// An ISA can only be lowered, never raised above what the CPU supports.
#pragma once

namespace kiln {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

Isa bestIsa();
Isa activeIsa();
// Sets the active ISA; returns false (and changes nothing) if the CPU does not support `isa`.
bool setActiveIsa(Isa isa);
const char* isaName(Isa isa);
// Parses "avx512" | "avx2" | "scalar"; returns false for anything else.
bool parseIsa(const char* name, Isa* out);

}  // namespace kiln
