"""numpy's PCG64 stream inside compiled kernels: the same numbers, drawn where they are used.

A stream is four uint64 words, (state high, state low, increment high, increment low), read from
a `numpy.random.Generator` over PCG64 (`stream_words`) and written back (`set_words`). `draw`
steps the 128-bit LCG and returns `Generator.random()`'s next double: the same XSL-RR output,
the same 53-bit conversion, so a kernel reading a stream sees exactly the numbers numpy would
have drawn, without filling and copying buffers. `jump` gives the affine map of `delta` steps
(PCG's own advance algorithm, as `bit_generator.advance` uses), so that a kernel can open a
cursor anywhere in a stream in one multiply-add. 128-bit arithmetic is a native LLVM `i128`
(`mul_add`), which compiles to a few machine instructions.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645  # PCG_DEFAULT_MULTIPLIER_128
MASK = (1 << 64) - 1
M_HI = np.uint64(MULTIPLIER >> 64)
M_LO = np.uint64(MULTIPLIER & MASK)
SCALE = 1.0 / 9007199254740992.0  # 2**-53
U128 = types.UniTuple(types.uint64, 2)


@intrinsic
def mul_add(typingctx, a_hi, a_lo, b_hi, b_lo, c_hi, c_lo):  # noqa: ARG001 (numba's signature)
    """(a x b + c) mod 2**128 on (high, low) uint64 halves."""
    sig = U128(types.uint64, types.uint64, types.uint64, types.uint64, types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        half = ir.IntType(64)

        def join(high, low):
            shifted = builder.shl(builder.zext(high, wide), ir.Constant(wide, 64))
            return builder.or_(shifted, builder.zext(low, wide))

        a, b, c = join(*args[0:2]), join(*args[2:4]), join(*args[4:6])
        result = builder.add(builder.mul(a, b), c)
        low = builder.trunc(result, half)
        high = builder.trunc(builder.lshr(result, ir.Constant(wide, 64)), half)
        return context.make_tuple(builder, signature.return_type, (high, low))

    return sig, codegen


@njit(cache=True, inline="always")
def output(high, low):
    """The double `Generator.random()` makes of a new PCG64 state: XSL-RR, top 53 bits."""
    x = high ^ low
    rotation = high >> np.uint64(58)
    bits = (x >> rotation) | (x << ((np.uint64(64) - rotation) & np.uint64(63)))
    return np.float64(bits >> np.uint64(11)) * SCALE


@njit(cache=True, inline="always")
def step(high, low, inc_high, inc_low):
    """The next state of the LCG."""
    return mul_add(high, low, M_HI, M_LO, inc_high, inc_low)


@njit(cache=True)
def draw(words):
    """The next uniform of the stream `words` (advanced in place), as `Generator.random()`."""
    high, low = step(words[0], words[1], words[2], words[3])
    words[0] = high
    words[1] = low
    return output(high, low)


@njit(cache=True)
def jump(delta, inc_high, inc_low):
    """The affine map (A, C) of `delta` steps, state -> A x state + C mod 2**128, as four words
    (A high, A low, C high, C low): PCG's advance (Brown 1994), for the stream's increment."""
    acc_mult = (np.uint64(0), np.uint64(1))
    acc_plus = (np.uint64(0), np.uint64(0))
    cur_mult = (M_HI, M_LO)
    cur_plus = (inc_high, inc_low)
    one = np.uint64(1)
    zero = np.uint64(0)
    while delta > 0:
        if delta & 1:
            acc_mult = mul_add(acc_mult[0], acc_mult[1], cur_mult[0], cur_mult[1], zero, zero)
            acc_plus = mul_add(acc_plus[0], acc_plus[1], cur_mult[0], cur_mult[1], *cur_plus)
        # cur_plus <- (cur_mult + 1) x cur_plus; the + 1 carries into the high word on overflow.
        mult_plus_one = mul_add(cur_mult[0], cur_mult[1], zero, one, zero, one)
        cur_plus = mul_add(mult_plus_one[0], mult_plus_one[1], cur_plus[0], cur_plus[1], zero, zero)
        cur_mult = mul_add(cur_mult[0], cur_mult[1], cur_mult[0], cur_mult[1], zero, zero)
        delta //= 2
    return np.array([acc_mult[0], acc_mult[1], acc_plus[0], acc_plus[1]], dtype=np.uint64)


@njit(cache=True, inline="always")
def advanced(by, high, low):
    """The state (high, low) moved by the map `by` (from `jump`): (high, low)."""
    return mul_add(by[0], by[1], high, low, by[2], by[3])


@njit(cache=True, inline="always")
def jumped(words, by):
    """The state `words` moved by the map `by` (from `jump`): (high, low)."""
    return advanced(by, words[0], words[1])


def stream_words(generator: np.random.Generator) -> np.ndarray:
    """A PCG64 generator's state as the four words the kernels read."""
    state = generator.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise ValueError(f"expected a PCG64 generator, got {state['bit_generator']}")
    s, inc = state["state"]["state"], state["state"]["inc"]
    return np.array([s >> 64, s & MASK, inc >> 64, inc & MASK], dtype=np.uint64)


def set_words(generator: np.random.Generator, words: np.ndarray) -> None:
    """Give a PCG64 generator the state `words` (after a kernel drew from its stream)."""
    state = generator.bit_generator.state
    high, low, inc_high, inc_low = (int(w) for w in words)
    state["state"] = {"state": (high << 64) | low, "inc": (inc_high << 64) | inc_low}
    state["has_uint32"], state["uinteger"] = 0, 0
    generator.bit_generator.state = state
