"""Random numbers for lanes: the same uniforms for the same replication, however a batch is cut.

Every month each lane draws `DRAWS` uniforms per member, used or not, in a fixed order. Two
scenarios or parameter points run with the same seed therefore share their randomness (common
random numbers). A random crisis's kind (against a member, backed opponent) and the patron's
answer to it are not drawn separately: they are read from the `crisis` uniform itself, which
given a crisis is again uniform (`split_uniform`); `answer` decides replayed requests only.
Replications are grouped in blocks of `STREAM_BLOCK`; block k draws from
`SeedSequence(seed).spawn(...)[k]`, so results do not depend on chunk size, workers or engine.

The `regime` row (projected changes of leader or regime) comes from a side stream of its own,
the first child of each main stream's seed sequence, drawn only in the months that use it: a
scenario without projected regime changes never touches it, so its numbers are exactly those it
had before the row existed, and adding regime changes to a scenario leaves every other draw as
it was (common random numbers).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

STREAM_BLOCK = 1000
DRAWS = ("crisis", "answer", "transition", "regime")
CRISIS, ANSWER, TRANSITION, REGIME = range(len(DRAWS))
MAIN_DRAWS = 3  # rows from the main streams, every month, used or not; `regime` is a side stream


def block_seed(seed: int, block: int) -> np.random.SeedSequence:
    """The seed of block k: the same as `SeedSequence(seed).spawn(k + 1)[k]`, in O(1)."""
    return np.random.SeedSequence(seed, spawn_key=(block,))


def resample_seed(seed: int, block: int, month: int) -> np.random.SeedSequence:
    """The fresh stream of block k from month t on, once a conditioned forecast has resampled
    its lanes at the end of month t - 1: distinct from every block's own and from each other."""
    return np.random.SeedSequence(seed, spawn_key=(block, 1, month))


def split_uniform(u: np.ndarray, p: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split uniforms u on [0, 1) at p: the event u < p, and a fresh uniform independent of it.

    Given u < p, u / p is uniform on [0, 1); given u >= p, (u - p) / (1 - p) is. So one draw
    decides an event and still yields an independent uniform for the next decision. `p` is a
    probability (clipped to [0, 1]), a float or an array like u.
    """
    p = np.clip(p, 0.0, 1.0)
    below = u < p
    if np.ndim(p) == 0 and p in (0.0, 1.0):
        return below, u.copy()
    above = ~below
    fresh = np.empty_like(u)
    p_below, p_above = (p[below], p[above]) if np.ndim(p) else (p, p)
    fresh[below] = u[below] / p_below
    fresh[above] = (u[above] - p_above) / (1.0 - p_above)
    return below, fresh


class LaneUniforms:
    """Monthly uniforms of shape (DRAWS, members, lanes) for a run of lanes."""

    def __init__(
        self,
        generators: list[np.random.Generator],
        block: int,
        offset: int,
        replications: int,
        members: int,
        points: int = 1,
    ):
        self.generators = generators
        self.block = block
        self.offset = offset
        self.replications = replications
        self.members = members
        self.points = points
        self.regime: list[np.random.Generator] | None = None
        self._u: np.ndarray | None = None
        self._buffer: np.ndarray | None = None
        self._drawn: set[int] = set()

    @classmethod
    def from_generator(cls, rng: np.random.Generator, lanes: int, members: int) -> LaneUniforms:
        """One stream for all lanes: a single model run from `model.rng`."""
        return cls([rng], lanes, 0, lanes, members)

    @classmethod
    def from_seed(
        cls, seed: int, first: int, replications: int, members: int, points: int = 1
    ) -> LaneUniforms:
        """Replications first..first+replications-1 of a batch, repeated for `points` points.

        Lane `p * replications + r` gets replication `first + r`'s numbers, whatever point p is.
        """
        first_block = first // STREAM_BLOCK
        last_block = (first + replications - 1) // STREAM_BLOCK
        gens = [
            np.random.default_rng(block_seed(seed, b)) for b in range(first_block, last_block + 1)
        ]
        return cls(
            gens, STREAM_BLOCK, first - first_block * STREAM_BLOCK, replications, members, points
        )

    @property
    def lanes(self) -> int:
        return self.replications * self.points

    def enable_regime(self) -> None:
        """Open the `regime` side streams: the first child of each main stream's seed sequence."""
        if self.regime is None and self._u is None:
            self.regime = [np.random.default_rng(_first_child(g)) for g in self.generators]
        elif self.regime is None:
            raise ValueError("enable_regime must be called before the first month is drawn")

    def member_normals(self) -> np.ndarray:
        """One standard normal per member and lane, (members, lanes), drawn once per run from a
        side stream of its own (child 1 of each main stream's seed sequence): a run's unobserved
        reasons, the same for a replication whatever chunk or point it runs in, and leaving
        every other draw as it was."""
        out = np.empty((self.members, self.lanes))
        start = -self.offset
        for generator in self.generators:
            block = np.random.default_rng(_first_child(generator, 1)).standard_normal(
                (self.members, self.block)
            )
            low, high = max(start, 0), min(start + self.block, self.replications)
            out[:, low:high] = block[:, low - start : high - start]
            start += self.block
        width = self.replications
        for point in range(1, self.points):
            out[:, point * width : (point + 1) * width] = out[:, :width]
        return out

    def next_month(self, draws: Iterable[int] | None = None) -> np.ndarray:
        """Draw this month's uniforms for every lane, shape (rows, members, lanes).

        The rows are the main DRAWS (`crisis`, `answer`, `transition`) and, once
        `enable_regime` was called, `regime`. With `draws` (indices into DRAWS), only those rows
        are drawn and the others hold NaN; each main stream skips the rest exactly as if it had
        drawn them (PCG64 `advance`), so every later number is the same as without `draws`; the
        `regime` side stream moves only in months that draw it. The model asks only for what a
        month uses (in replayed history, just the transition draws). The returned array is
        reused: it is valid until the next call.
        """
        rows = MAIN_DRAWS + (self.regime is not None)
        wanted = set(range(rows)) if draws is None else set(draws)
        if REGIME in wanted and self.regime is None:
            raise ValueError("the regime row needs enable_regime() first")
        direct = len(self.generators) == 1 and self.offset == 0 and self.block == self.lanes
        if self._u is None:
            self._u = np.full((rows, self.members, self.lanes), np.nan)
            self._buffer = self._u if direct else np.empty((rows, self.members, self.block))
            self._drawn = set(range(rows))
        u, buffer = self._u, self._buffer
        for row in self._drawn - wanted:
            u[row] = np.nan
        self._drawn = wanted
        segments = _segments([row in wanted for row in range(MAIN_DRAWS)])
        skip_per_row = self.members * self.block
        side = (REGIME, REGIME + 1, True) if REGIME in wanted else None
        copied = [s for s in [*segments, side] if s is not None and s[2]]
        start = -self.offset  # lane of the current block's first number
        for b, generator in enumerate(self.generators):
            for first, stop, drawn in segments:
                if drawn:
                    generator.random(out=buffer[first:stop])
                else:
                    generator.bit_generator.advance((stop - first) * skip_per_row)
            if side is not None:
                self.regime[b].random(out=buffer[REGIME])
            if not direct:
                low, high = max(start, 0), min(start + self.block, self.replications)
                for first, stop, _ in copied:
                    u[first:stop, :, low:high] = buffer[first:stop, :, low - start : high - start]
            start += self.block
        width = self.replications
        for point in range(1, self.points):
            for first, stop, _ in copied:
                u[first:stop, :, point * width : (point + 1) * width] = u[first:stop, :, :width]
        return u


def _first_child(generator: np.random.Generator, child: int = 0) -> np.random.SeedSequence:
    """A child of a generator's seed sequence, built afresh (the same whatever was spawned from
    it before): child 0 for the `regime` side stream, child 1 for the members' unobserved
    reasons."""
    seq = generator.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):
        raise ValueError("side streams need a generator seeded from a SeedSequence")
    return np.random.SeedSequence(
        seq.entropy, spawn_key=(*seq.spawn_key, child), pool_size=seq.pool_size
    )


def _segments(flags: list[bool]) -> list[tuple[int, int, bool]]:
    """Maximal runs of equal flags as (first, stop, flag): draw or skip whole runs of rows."""
    runs: list[tuple[int, int, bool]] = []
    for row, flag in enumerate(flags):
        if runs and runs[-1][2] == flag:
            runs[-1] = (runs[-1][0], row + 1, flag)
        else:
            runs.append((row, row + 1, flag))
    return runs
