#!/usr/bin/env python3
"""Independent reference for feed.Rand (TestRandReference): PCG-DXSM with
128-bit state as in pcg-cpp (pcg_random.hpp: the 128-bit default multiplier
and increment, the DXSM output function), the Box-Muller transform and
Lemire's unbiased bounded draw, written from their descriptions.
Prints the Go literals of the test."""
import math

M128 = (1 << 128) - 1
M64 = (1 << 64) - 1
MUL = 0x2360ED051FC65DA44385DF649FCCF645
INC = 0x5851F42D4C957F2D14057B7EF767814F
CHEAP = 0xDA942042E4DD58B5


class PCG:
    def __init__(self, seed1, seed2):
        self.state = (seed1 << 64) | seed2

    def u64(self):
        self.state = (self.state * MUL + INC) & M128
        hi, lo = self.state >> 64, self.state & M64
        hi ^= hi >> 32
        hi = (hi * CHEAP) & M64
        hi ^= hi >> 48
        hi = (hi * (lo | 1)) & M64
        return hi


def normals(p, n):
    out = []
    while len(out) < n:
        u1 = ((p.u64() >> 11) + 1) / 2**53
        u2 = (p.u64() >> 11) / 2**53
        rad = math.sqrt(-2 * math.log(u1))
        out += [rad * math.cos(2 * math.pi * u2), rad * math.sin(2 * math.pi * u2)]
    return out[:n]


def intn(p, n):
    while True:
        x = p.u64() * n
        hi, lo = x >> 64, x & M64
        if lo >= (-n % (1 << 64)) % n:
            return hi


p = PCG(1, 2)
print("normals(1, 2):", ", ".join(repr(x) for x in normals(p, 6)))
p = PCG(7, 0xfeed)
print("intn(7, 0xfeed, 97):", ", ".join(str(intn(p, 97)) for _ in range(8)))
p = PCG(3, 4)
print("intn(3, 4, 2^63+5):", ", ".join(str(intn(p, 2**63 + 5)) for _ in range(4)))
