"""Random numbers for lanes: the same uniforms for the same replication, however a batch is cut.

Every month each lane has `MAIN_DRAWS` uniforms per member, in the fixed order crisis, answer,
transition, read or skipped whole (a month that does not read a row skips it in the stream, which
leaves every later number as if it had been drawn). Two scenarios or parameter points run with
the same seed therefore share their randomness (common random numbers). A random crisis's kind
(against a member, backed opponent) and the patron's answer to it are not drawn separately: they
are read from the `crisis` uniform itself, which given a crisis is again uniform
(`sim.model.requests.split_uniform`); `answer` decides replayed requests only. Replications are
grouped in blocks of `STREAM_BLOCK`; block k draws from `SeedSequence(seed).spawn(...)[k]`, so
results do not depend on chunk size, workers or engine.

The numbers are numpy's PCG64 streams, read inside the month kernel where they are used
(`sim.model.pcg`, `sim.model.month`): a block of `STREAM_BLOCK` lanes takes, each month, its
crisis row (members x block numbers), then its answer row, then its transition row, exactly what
`Generator.random(out=(3, members, block))` would give.

The `regime` row (projected changes of leader or regime) comes from a side stream of its own,
the first child of each main stream's seed sequence, drawn only in the months that use it: a
scenario without projected regime changes never touches it, so its numbers are exactly those it
had before the row existed, and adding regime changes to a scenario leaves every other draw as
it was (common random numbers). A second side stream, child 1, gives each member's unobserved
reasons, one normal per member and run, drawn once.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.model import pcg
from sim.model.month import fill_month
from sim.model.tables import ANSWER, CRISIS, MAIN_DRAWS, REGIME, TRANSITION, Streams

STREAM_BLOCK = 1000
DRAWS = ("crisis", "answer", "transition", "regime")
__all__ = ["ANSWER", "CRISIS", "DRAWS", "MAIN_DRAWS", "REGIME", "STREAM_BLOCK", "TRANSITION"]


def block_seed(seed: int, block: int) -> np.random.SeedSequence:
    """The seed of block k: the same as `SeedSequence(seed).spawn(k + 1)[k]`, in O(1)."""
    return np.random.SeedSequence(seed, spawn_key=(block,))


def resample_seed(seed: int, block: int, month: int) -> np.random.SeedSequence:
    """The fresh stream of block k from month t on, once a conditioned forecast has resampled
    its lanes at the end of month t - 1: distinct from every block's own and from each other."""
    return np.random.SeedSequence(seed, spawn_key=(block, 1, month))


class LaneUniforms:
    """The PCG64 streams of a run of lanes, as the month kernel reads them.

    `words` (blocks, 4) holds each block's stream state; `jumps` (blocks, 3, 4) its maps to the
    chunk's first replication in the block, over one member's stretch of `block` numbers, and
    over a whole month (`MAIN_DRAWS` rows); `regime_words` and `regime_jumps` the same for the
    regime side streams once `enable_regime` is called (one row a month, drawn only when read).
    `layout` is (block, offset of the chunk's first replication in its block, replications,
    points): lane `p * replications + r` reads replication r's numbers whatever point p is.
    """

    def __init__(
        self,
        generators: list[np.random.Generator],
        block: int,
        offset: int,
        replications: int,
        members: int,
        points: int = 1,
        sync: bool = False,
    ):
        self.generators = generators
        self.block = block
        self.offset = offset
        self.replications = replications
        self.members = members
        self.points = points
        self.sync = sync  # write the streams back into `generators` after each month
        self.layout = np.array([block, offset, replications, points], dtype=np.int64)
        self.words = np.stack([pcg.stream_words(g) for g in generators])
        self.jumps = np.stack([self._jumps(b, MAIN_DRAWS) for b in range(len(generators))])
        self.regime: list[np.random.Generator] | None = None
        self.regime_words = np.zeros((0, 4), dtype=np.uint64)
        self.regime_jumps = np.zeros((0, 3, 4), dtype=np.uint64)
        self.months = 0
        self._streams: Streams | None = None

    @classmethod
    def from_generator(cls, rng: np.random.Generator, lanes: int, members: int) -> LaneUniforms:
        """One stream for all lanes: a single model run from `model.rng` (which moves on with
        the numbers the model reads)."""
        return cls([rng], lanes, 0, lanes, members, sync=True)

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

    def _jumps(self, b: int, rows: int, words: np.ndarray | None = None) -> np.ndarray:
        """Block b's maps: to the chunk's first replication in it, over one member's stretch,
        over a month of `rows` rows."""
        words = self.words[b] if words is None else words
        start = b * self.block - self.offset
        first = max(-start, 0)
        month = rows * self.members * self.block
        return np.stack(
            [pcg.jump(delta, words[2], words[3]) for delta in (first, self.block, month)]
        )

    def enable_regime(self) -> None:
        """Open the `regime` side streams: the first child of each main stream's seed sequence."""
        if self.months:
            raise ValueError("enable_regime must be called before the first month is drawn")
        if self.regime is None:
            self.regime = [np.random.default_rng(_first_child(g)) for g in self.generators]
            self.regime_words = np.stack([pcg.stream_words(g) for g in self.regime])
            self.regime_jumps = np.stack(
                [self._jumps(b, 1, w) for b, w in enumerate(self.regime_words)]
            )
            self._streams = None

    def replace_stream(self, b: int, generator: np.random.Generator) -> None:
        """Block b reads `generator`'s stream from now on (a conditioned forecast's fresh stream
        after resampling); its regime side stream, if any, goes on as it was."""
        self.generators[b] = generator
        self.words[b] = pcg.stream_words(generator)
        self.jumps[b] = self._jumps(b, MAIN_DRAWS)

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

    def streams(self) -> Streams:
        """The streams as the kernels take them (`sim.model.tables.Streams`), built once: the
        kernels and `replace_stream` change the arrays in place."""
        if self._streams is None:
            self._streams = Streams(
                self.words, self.jumps, self.regime_words, self.regime_jumps, self.layout
            )
        return self._streams

    def flags(self, draws: Iterable[int]) -> np.ndarray:
        """Which rows a month reads, as the kernels take them (the first four month flags)."""
        wanted = set(draws)
        if REGIME in wanted and self.regime is None:
            raise ValueError("the regime row needs enable_regime() first")
        return np.array([row in wanted for row in range(len(DRAWS))], dtype=np.int64)

    def moved(self) -> None:
        """Note that the kernel has read a month (and give `generators` the streams' states
        when the streams are theirs)."""
        self.months += 1
        if self.sync:
            for generator, words in zip(self.generators, self.words, strict=True):
                pcg.set_words(generator, words)
            for generator, words in zip(self.regime or [], self.regime_words, strict=True):
                pcg.set_words(generator, words)

    def next_month(self, draws: Iterable[int] | None = None) -> np.ndarray:
        """This month's uniforms of every lane, shape (rows, members, lanes), as the month kernel
        reads them (rows it does not read hold NaN), and the streams move past the month: for
        tests and inspection; the model's kernel reads the streams directly."""
        rows = MAIN_DRAWS + (self.regime is not None)
        flags = self.flags(range(rows) if draws is None else draws)
        out = np.full((rows, self.members, self.lanes), np.nan)
        fill_month(self.streams(), flags, out)
        self.moved()
        return out


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
