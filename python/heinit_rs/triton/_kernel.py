"""The stream (docs/stream-spec.md) as one Triton kernel: Philox4x32-10, then the transform
of each value, with the CPU's arithmetic step for step.

Every operation is one IEEE 754 operation rounded to nearest: no fused multiply-add (the
kernel is compiled with ``enable_fp_fusion=False``); division and square root only in double
precision, which NVIDIA GPUs round correctly (``div.rn.f64``, ``sqrt.rn.f64``; in single
precision plain ``/`` and ``tl.sqrt`` are approximate there, and the float32 transforms use
neither); the bfloat16 rounding done on the bits as the CPU does it. Constants that are not exact in
float32 come from a float64 table in memory, never from literals, which Triton may hold in
single precision.
"""

from __future__ import annotations

import triton
import triton.language as tl

# Indices into the float64 constant table (CONSTANTS in __init__.py).
AS241_CENTRAL = 0  # 8 numerator, then 8 denominator coefficients, highest power first
AS241_NEAR = 16  # 8 + 8
AS241_FAR = 32  # 8 + 8
AS241_MISC = 48  # 0.180625, 0.425, 1.6, 5.0
LN = 52  # LN2_HI, LN2_LO, SQRT_2, LG[0..6]

UNIFORM, NORMAL, TRUNC_NORMAL = 0, 1, 2
OUT_F32, OUT_F64, OUT_F16, OUT_BF16 = 0, 1, 2, 3


@triton.jit
def _philox(block, s0, s1, k0, k1):
    """Philox4x32-10 of counter (block, stream) under key (k0, k1): four uint32 words."""
    zero = tl.zeros(block.shape, tl.uint32)
    c0 = (block & 0xFFFFFFFF).to(tl.uint32)
    c1 = (block >> 32).to(tl.uint32)
    c2 = zero + s0
    c3 = zero + s1
    key0 = zero + k0
    key1 = zero + k1
    for _ in tl.static_range(10):
        hi0 = tl.umulhi(c0, 0xD2511F53)
        lo0 = c0 * 0xD2511F53
        hi1 = tl.umulhi(c2, 0xCD9E8D57)
        lo1 = c2 * 0xCD9E8D57
        c0, c1, c2, c3 = hi1 ^ c1 ^ key0, lo1, hi0 ^ c3 ^ key1, lo0
        key0 = key0 + 0x9E3779B9
        key1 = key1 + 0xBB67AE85
    return c0, c1, c2, c3


@triton.jit
def _horner8(c_ptr, first: tl.constexpr, r):
    p = tl.zeros(r.shape, tl.float64) + tl.load(c_ptr + first)
    for k in tl.static_range(1, 8):
        p = p * r + tl.load(c_ptr + first + k)
    return p


@triton.jit
def _ln_f64(x, c_ptr):
    """fdlibm's __ieee754_log kernel for positive normal x (src/math.rs, ln_f64)."""
    bits = x.to(tl.uint64, bitcast=True)
    exponent = ((bits >> 52) & 0x7FF).to(tl.int64) - 1023
    m = ((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000).to(tl.float64, bitcast=True)
    big = m > tl.load(c_ptr + LN + 2)
    m = tl.where(big, m * 0.5, m)
    exponent = exponent + big.to(tl.int64)
    f = m - 1.0
    k = exponent.to(tl.float64)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (tl.load(c_ptr + LN + 4) + w * (tl.load(c_ptr + LN + 6) + w * tl.load(c_ptr + LN + 8)))
    t2 = z * (tl.load(c_ptr + LN + 3) + w * (tl.load(c_ptr + LN + 5) + w * (
        tl.load(c_ptr + LN + 7) + w * tl.load(c_ptr + LN + 9))))
    r = t2 + t1
    hfsq = 0.5 * f * f
    return k * tl.load(c_ptr + LN) - ((hfsq - (s * (hfsq + r) + k * tl.load(c_ptr + LN + 1))) - f)


@triton.jit
def _ndtri_abs_f64(c, t, c_ptr):
    """|Phi^-1| by Wichura's AS 241 from c = |p - 1/2| and t = min(p, 1 - p)."""
    r0 = tl.load(c_ptr + AS241_MISC) - c * c
    central = c * _horner8(c_ptr, AS241_CENTRAL, r0) / _horner8(c_ptr, AS241_CENTRAL + 8, r0)
    safe_t = tl.where(c <= tl.load(c_ptr + AS241_MISC + 1), 0.25, t)  # ln only where used
    r = tl.sqrt(-_ln_f64(safe_t, c_ptr))
    near_r = r - tl.load(c_ptr + AS241_MISC + 2)
    near = _horner8(c_ptr, AS241_NEAR, near_r) / _horner8(c_ptr, AS241_NEAR + 8, near_r)
    far_r = r - tl.load(c_ptr + AS241_MISC + 3)
    far = _horner8(c_ptr, AS241_FAR, far_r) / _horner8(c_ptr, AS241_FAR + 8, far_r)
    tail = tl.where(r <= tl.load(c_ptr + AS241_MISC + 3), near, far)
    return tl.where(c <= tl.load(c_ptr + AS241_MISC + 1), central, tail)


@triton.jit
def _ndtri_abs_f32(abs_x, q, table_ptr, c_ptr):
    """Stream v2's float32 |Phi^-1|: the table of 32 degree-5 polynomials, AS 241 in double
    precision beyond it (src/math.rs, ndtri_abs_f32)."""
    u = (1.0 + abs_x).to(tl.uint32, bitcast=True)
    centre = (u >> 19) - 0x7F0
    t_centre = ((u & 0x0007FFFF) | 0x3F800000).to(tl.float32, bitcast=True) - 1.03125
    b = q.to(tl.uint32, bitcast=True)
    tail = 260 - (b >> 22)
    t_tail = ((b & 0x003FFFFF) | 0x3F800000).to(tl.float32, bitcast=True) - 1.25
    in_centre = q >= 0.5
    segment = tl.where(in_centre, centre, tail)
    t = tl.where(in_centre, t_centre, t_tail)
    row = (segment % 32).to(tl.int32) * 6
    p = tl.load(table_ptr + row + 5)
    for k in tl.static_range(4, -1, -1):
        p = p * t + tl.load(table_ptr + row + k)
    z = p * tl.where(in_centre, abs_x, 1.0)
    far = _ndtri_abs_f64(abs_x.to(tl.float64) * 0.5, q.to(tl.float64) * 0.5, c_ptr)
    return tl.where(segment >= 32, far.to(tl.float32), z)


@triton.jit
def _with_sign(negative, magnitude):
    return tl.where(negative, -magnitude, magnitude)


@triton.jit
def _clamp(v, low, high):
    v = tl.where(v < low, low, v)
    return tl.where(v > high, high, v)


@triton.jit
def fill_kernel(out_ptr, n, k0, k1, s0, s1, base, shape_ptr, stride_ptr, gstride_ptr,
                p_ptr, table_ptr, c_ptr, NDIM: tl.constexpr, DIST: tl.constexpr,
                OUT: tl.constexpr, HALF_OPEN: tl.constexpr, BLOCK: tl.constexpr):
    """Fill `n` elements of a strided view: element e at C-order position e of the view's
    shape is written at sum(idx * stride) and is value `base + sum(idx * gstride)` of the
    stream (key k0 | k1 << 32, stream s0 | s1 << 32). p_ptr: the distribution's
    `kernel_parameters`, in the compute type."""
    e = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    mask = e < n
    rest = e
    where = tl.zeros((BLOCK,), tl.int64)
    i = tl.zeros((BLOCK,), tl.int64) + base
    for dd in tl.static_range(NDIM):
        d = NDIM - 1 - dd
        size = tl.load(shape_ptr + d)
        index = rest % size
        rest = rest // size
        where += index * tl.load(stride_ptr + d)
        i += index * tl.load(gstride_ptr + d)
    key0 = k0.to(tl.uint32)
    key1 = k1.to(tl.uint32)
    stream0 = s0.to(tl.uint32)
    stream1 = s1.to(tl.uint32)
    if OUT == OUT_F64:
        lane = (i & 31) >> 4
        block = ((i >> 5) * 16 + (i & 15)).to(tl.uint64)
        w0, w1, w2, w3 = _philox(block, stream0, stream1, key0, key1)
        low_word = tl.where(lane == 0, w0, w2).to(tl.uint64)
        high_word = tl.where(lane == 0, w1, w3).to(tl.uint64)
        draw = low_word | (high_word << 32)
        if DIST == UNIFORM:
            k = (draw >> 11).to(tl.int64)
            s = (2 * k + 1 - 9007199254740992).to(tl.float64) * 1.1102230246251565e-16
            value = _clamp(tl.load(p_ptr) + tl.load(p_ptr + 1) * s, tl.load(p_ptr + 2),
                           tl.load(p_ptr + 3))
        elif DIST == NORMAL:
            r = draw & 0x7FFFFFFFFFFFFFFF
            c = (r.to(tl.float64) + 0.5) * 5.421010862427522e-20
            t = ((0x7FFFFFFFFFFFFFFF - r).to(tl.float64) + 0.5) * 5.421010862427522e-20
            z = _with_sign((draw >> 63) != 0, _ndtri_abs_f64(c, t, c_ptr))
            value = tl.load(p_ptr) + tl.load(p_ptr + 1) * z
        else:
            u = ((draw >> 11).to(tl.float64) + 0.5) * 1.1102230246251565e-16
            p = tl.load(p_ptr + 4) + u * tl.load(p_ptr + 5)
            upper = 1.0 - p
            c = tl.abs(p - 0.5)
            t = tl.where(p < upper, p, upper)
            negative = (p < 0.5) != (tl.load(p_ptr + 6) != 0.0)
            z = _with_sign(negative, _ndtri_abs_f64(c, t, c_ptr))
            value = _clamp(tl.load(p_ptr) + tl.load(p_ptr + 1) * z, tl.load(p_ptr + 2),
                           tl.load(p_ptr + 3))
        tl.store(out_ptr + where, value, mask=mask)
    else:
        lane = (i & 63) >> 4
        block = ((i >> 6) * 16 + (i & 15)).to(tl.uint64)
        w0, w1, w2, w3 = _philox(block, stream0, stream1, key0, key1)
        w = tl.where(lane == 0, w0, tl.where(lane == 1, w1, tl.where(lane == 2, w2, w3)))
        if DIST == UNIFORM:
            k = (w >> 8).to(tl.int32)
            s = (2 * k + 1 - 16777216).to(tl.float32) * 5.9604644775390625e-08
            value = _clamp(tl.load(p_ptr) + tl.load(p_ptr + 1) * s, tl.load(p_ptr + 2),
                           tl.load(p_ptr + 3))
        elif DIST == NORMAL:
            r = w & 0x7FFFFFFF
            abs_x = (r.to(tl.float32) + 0.5) * 4.656612873077393e-10
            q = ((0x7FFFFFFF - r).to(tl.float32) + 0.5) * 4.656612873077393e-10
            z = _with_sign((w >> 31) != 0, _ndtri_abs_f32(abs_x, q, table_ptr, c_ptr))
            value = tl.load(p_ptr) + tl.load(p_ptr + 1) * z
        else:
            u = ((w >> 8).to(tl.float32) + 0.5) * 5.9604644775390625e-08
            p = tl.load(p_ptr + 4) + u * tl.load(p_ptr + 5)
            upper = 1.0 - p
            abs_x = tl.abs(p + p - 1.0)
            q = 2.0 * tl.where(p < upper, p, upper)
            negative = (p < 0.5) != (tl.load(p_ptr + 6) != 0.0)
            z = _with_sign(negative, _ndtri_abs_f32(abs_x, q, table_ptr, c_ptr))
            value = _clamp(tl.load(p_ptr) + tl.load(p_ptr + 1) * z, tl.load(p_ptr + 2),
                           tl.load(p_ptr + 3))
        if OUT == OUT_F32:
            tl.store(out_ptr + where, value, mask=mask)
        else:
            if OUT == OUT_BF16:  # to nearest, ties to even, on the bits (as src/real.rs)
                bits = value.to(tl.uint32, bitcast=True)
                bits16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).to(tl.uint16)
            else:
                bits16 = value.to(tl.float16).to(tl.uint16, bitcast=True)
            if HALF_OPEN:  # heinit_rs.torch's 16-bit uniform: b (rounded) becomes a (rounded)
                high16 = tl.load(p_ptr + 5).to(tl.uint16)
                bits16 = tl.where(bits16 == high16, tl.load(p_ptr + 4).to(tl.uint16), bits16)
            tl.store(out_ptr + where, bits16, mask=mask)
