"""Random numbers for lanes: the same uniforms for the same replication, however a batch is cut.

Every month each lane draws `DRAWS` uniforms per member, used or not, in a fixed order. Two
scenarios or parameter points run with the same seed therefore share their randomness (common
random numbers). Replications are grouped in blocks of `STREAM_BLOCK`; block k draws from
`SeedSequence(seed).spawn(...)[k]`, so results do not depend on chunk size, workers or engine.
"""

from __future__ import annotations

import numpy as np

STREAM_BLOCK = 1000
DRAWS = ("crisis", "against_member", "backed_opponent", "answer", "transition")
CRISIS, AGAINST_MEMBER, BACKED, ANSWER, TRANSITION = range(len(DRAWS))


def block_seed(seed: int, block: int) -> np.random.SeedSequence:
    """The seed of block k: the same as `SeedSequence(seed).spawn(k + 1)[k]`, in O(1)."""
    return np.random.SeedSequence(seed, spawn_key=(block,))


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
        self._buffer: np.ndarray | None = None

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

    def next_month(self) -> np.ndarray:
        """Draw this month's uniforms for every lane, shape (DRAWS, members, lanes).

        Each block's numbers are drawn into a small buffer and copied to their lanes, which
        costs far less than building the month from freshly allocated pieces.
        """
        shape = (len(DRAWS), self.members, self.block)
        u = np.empty((len(DRAWS), self.members, self.lanes))
        if len(self.generators) == 1 and self.offset == 0 and self.block == self.lanes:
            return self.generators[0].random(out=u)
        if self._buffer is None:
            self._buffer = np.empty(shape)
        start = -self.offset  # lane of the current block's first number
        for generator in self.generators:
            generator.random(out=self._buffer)
            low, high = max(start, 0), min(start + self.block, self.replications)
            u[:, :, low:high] = self._buffer[:, :, low - start : high - start]
            start += self.block
        for point in range(1, self.points):
            u[:, :, point * self.replications : (point + 1) * self.replications] = u[
                :, :, : self.replications
            ]
        return u
