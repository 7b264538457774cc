"""Fit the table of stream v2's float32 |Phi^-1| (docs/stream-spec.md) and print it as Rust.

32 segments, a degree-5 polynomial each, evaluated by Horner's rule in float32 without fused
multiply-adds:
* segments 0-8, the centre (q >= 1/2), by the top four bits of the mantissa of u = 1 + |x|:
  i = (bits(u) >> 19) - 0x7f0, so |x| lies in [i/16, (i+1)/16) up to the rounding of u;
  t = u with those bits cleared, minus 1 + 1/32, in [-1/32, 1/32); and |z| = |x| * P_i(t), so
  the relative precision near zero is that of |x|. Segment 8 serves only |x| = 1/2.
* segments 9-31, the tail (1.5 * 2^-13 <= q < 1/2), one per half binade of q:
  i = 260 - (bits(q) >> 22); t = q with its exponent and top mantissa bit replaced by those of 1,
  minus 1.25, in [-1/4, 1/4); and |z| = P_i(t).
* q below that (about 1 value in 5500) uses AS 241 in double precision instead.
Each polynomial is a Chebyshev least-squares fit in double precision (close to minimax),
rounded to float32. Run: python scripts/fit_ndtri_f32.py > table.rs
"""

import numpy as np
from numpy.polynomial import chebyshev as C
from scipy.special import ndtri

DEGREE = 5
CENTRE_SEGMENTS = 9
SEGMENTS = 32
TAIL_KEY = 260


def centre_z_over_x(x):
    with np.errstate(all="ignore"):
        r = -ndtri((1.0 - x) / 2.0) / x
    return np.where(x == 0.0, np.sqrt(np.pi / 2.0), r)


def tail_q(i, t):
    """q of tail segment i at local variable t in [-1/4, 1/4]."""
    key = TAIL_KEY - i
    exponent, top_bit = key >> 1, key & 1
    return (1.0 + 0.5 * top_bit + (t + 0.25)) * 2.0 ** (exponent - 127)


def segment_function(i):
    if i < CENTRE_SEGMENTS:
        return (lambda t: centre_z_over_x((i + 0.5) / 16.0 + t)), 1.0 / 32.0
    return (lambda t: -ndtri(tail_q(i, t) / 2.0)), 0.25


def fit(i, nodes=200):
    f, half = segment_function(i)
    u = np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    cheb = C.chebfit(u, f(half * u), DEGREE)
    power = C.cheb2poly(cheb) / half ** np.arange(DEGREE + 1)
    return power.astype(np.float32)


def draw_parts(r):
    """(|x|, q) of 31-bit magnitudes r, as the float32 normal computes them."""
    r = np.asarray(r, dtype=np.uint32)
    abs_x = (r.astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-31)
    q = ((np.uint32(0x7FFFFFFF) - r).astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-31)
    return abs_x, q


def edge_draws():
    """Magnitudes r on both sides of every segment edge (|x| = i/16, q = 2^-e and 1.5 * 2^-e)."""
    edges = [i << 27 for i in range(1, 9)]
    edges += [0x7FFFFFFF - (m << 30 >> e) for e in range(1, 14) for m in (2, 3)]
    return edges


def table():
    """The fitted table, with constant terms nudged (by an ulp or two) until no draw near a
    segment edge gives a smaller value than the draw before it: the rounding of independent
    fits would otherwise step back by an ulp at 4 edges."""
    coefficients = np.array([fit(i) for i in range(SEGMENTS)], dtype=np.float32)
    for edge in edge_draws():
        r = np.arange(max(edge - 4096, 0), min(edge + 4096, 0x7FFFFFFF), dtype=np.int64)
        for _ in range(8):
            abs_x, q = draw_parts(r)
            z = evaluate(coefficients, abs_x, q)
            back = np.flatnonzero(np.diff(z) < 0)
            if back.size == 0:
                break
            # Lower the segment whose values are the larger (the one before the edge).
            abs_x, q = draw_parts([r[back[0]]])
            segment = segment_of(abs_x, q)[0][0]
            c0 = coefficients[segment, 0]
            coefficients[segment, 0] = np.nextafter(c0, np.float32(-np.inf))
        else:
            raise RuntimeError(f"edge {edge} stays non-monotone")
    return coefficients


def segment_of(abs_x, q):
    """(segment, t, centre) as src/math.rs's ndtri_f32_segment computes them."""
    f32 = np.float32
    abs_x, q = np.asarray(abs_x, dtype=f32), np.asarray(q, dtype=f32)
    centre = q >= f32(0.5)
    ub = (f32(1.0) + abs_x).view(np.uint32)
    ic = (ub >> 19).astype(np.int64) - 0x7F0
    tc = ((ub & np.uint32(0x7FFFF)) | np.uint32(0x3F800000)).view(f32) - f32(1.03125)
    qb = q.view(np.uint32)
    it = TAIL_KEY - (qb >> 22).astype(np.int64)
    tt = ((qb & np.uint32(0x3FFFFF)) | np.uint32(0x3F800000)).view(f32) - f32(1.25)
    return np.where(centre, ic, it), np.where(centre, tc, tt), centre


def evaluate(coefficients, abs_x, q):
    """The float32 evaluation, operation for operation as src/math.rs does it."""
    f32 = np.float32
    abs_x, q = abs_x.astype(f32), q.astype(f32)
    idx, t, centre = segment_of(abs_x, q)
    far = idx >= SEGMENTS
    c = coefficients[np.where(far, 0, idx)]
    p = c[:, DEGREE]
    for k in range(DEGREE - 1, -1, -1):
        p = p * t + c[:, k]
    z = p * np.where(centre, abs_x, f32(1.0))
    with np.errstate(all="ignore"):
        deep = (-ndtri(q.astype(np.float64) / 2.0)).astype(f32)
    return np.where(far, deep, z)


if __name__ == "__main__":
    print(f"pub const NDTRI_F32_TABLE: [[f32; {DEGREE + 1}]; {SEGMENTS}] = [")
    for row in table():
        print("    [" + ", ".join(str(c) for c in row) + "],")
    print("];")
