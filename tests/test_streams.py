"""The random streams: the kernel reads exactly numpy's PCG64 numbers in the documented layout,
and one crisis uniform decides the crisis and its kind (the split leaves independent uniforms)."""

import numpy as np
import pytest
from numba import njit
from scipy import stats

from sim.model import pcg
from sim.model.requests import split_uniform
from sim.model.streams import (
    ANSWER,
    CRISIS,
    MAIN_DRAWS,
    REGIME,
    STREAM_BLOCK,
    TRANSITION,
    LaneUniforms,
    _first_child,
    block_seed,
)

MEMBERS = 3


@njit
def _split_all(u, p):
    below = np.empty(u.size, dtype=np.bool_)
    fresh = np.empty(u.size)
    for k in range(u.size):
        below[k], fresh[k] = split_uniform(u[k], p[k])
    return below, fresh


def test_draw_gives_the_numbers_of_numpys_generator():
    generator = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(3,)))
    words = pcg.stream_words(generator)
    drawn = np.array([pcg.draw(words) for _ in range(5000)])
    np.testing.assert_array_equal(drawn, generator.random(5000))
    pcg.set_words(generator, words)
    check = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(3,)))
    check.random(5000)
    assert generator.random() == check.random()


@pytest.mark.parametrize("delta", [0, 1, 999, 1000, 123_457, 2**40 + 3])
def test_jump_is_numpys_advance(delta):
    generator = np.random.default_rng(11)
    words = pcg.stream_words(generator)
    jumped = pcg.jump(delta, words[2], words[3])
    high, low = _apply(words, jumped)
    generator.bit_generator.advance(delta)
    assert (high, low) == tuple(pcg.stream_words(generator)[:2])


@njit
def _apply(words, by):
    return pcg.jumped(words, by)


def _expected_month(seed: int, first: int, replications: int, months: int, rows: list) -> list:
    """What numpy's generators give, block by block, in the documented layout."""
    blocks = range(first // STREAM_BLOCK, (first + replications - 1) // STREAM_BLOCK + 1)
    out = []
    gens = [np.random.default_rng(block_seed(seed, b)) for b in blocks]
    regime = [np.random.default_rng(_first_child(g)) for g in gens]
    for month in range(months):
        full = np.full((MAIN_DRAWS + 1, MEMBERS, len(gens) * STREAM_BLOCK), np.nan)
        for k, g in enumerate(gens):
            month_block = g.random((MAIN_DRAWS, MEMBERS, STREAM_BLOCK))
            for row in rows[month]:
                if row == REGIME:
                    full[row, :, k * STREAM_BLOCK : (k + 1) * STREAM_BLOCK] = regime[k].random(
                        (MEMBERS, STREAM_BLOCK)
                    )
                else:
                    full[row, :, k * STREAM_BLOCK : (k + 1) * STREAM_BLOCK] = month_block[row]
        start = first - blocks[0] * STREAM_BLOCK
        out.append(full[:, :, start : start + replications])
    return out


def test_a_chunks_numbers_are_numpys_block_streams_whatever_its_cut():
    """Rows a month does not read are skipped whole; the regime side stream moves only when
    read; a chunk starting inside a block, with two points, sees its replications' numbers."""
    rows = [[TRANSITION], [CRISIS, TRANSITION, REGIME], [CRISIS, ANSWER, TRANSITION], [TRANSITION]]
    seed, first, replications = 5, 1700, 1600
    expected = _expected_month(seed, first, replications, len(rows), rows)
    uniforms = LaneUniforms.from_seed(seed, first, replications, MEMBERS, points=2)
    uniforms.enable_regime()
    for month, wanted in enumerate(rows):
        got = uniforms.next_month(wanted)
        for point in range(2):
            lanes = slice(point * replications, (point + 1) * replications)
            np.testing.assert_array_equal(got[:, :, lanes], expected[month])


def test_a_single_run_reads_and_moves_model_rng():
    generator = np.random.default_rng(8)
    copy = np.random.default_rng(8)
    uniforms = LaneUniforms.from_generator(generator, 4, MEMBERS)
    got = uniforms.next_month([CRISIS, TRANSITION])
    block = copy.random((MAIN_DRAWS, MEMBERS, 4))
    np.testing.assert_array_equal(got[[CRISIS, TRANSITION]], block[[CRISIS, TRANSITION]])
    assert np.isnan(got[ANSWER]).all()
    assert generator.random() == copy.random()


def test_split_uniform_gives_a_fresh_uniform_independent_of_the_event():
    rng = np.random.default_rng(3)
    u = rng.random(200_000)
    below, fresh = _split_all(u, np.full(u.size, 0.3))
    assert below.mean() == pytest.approx(0.3, abs=0.005)
    for side in (below, ~below):
        assert stats.kstest(fresh[side], "uniform").pvalue > 0.001
    # Independent of the event: the next decision's rate is the same on both sides.
    second = fresh < 0.2
    assert second[below].mean() == pytest.approx(0.2, abs=0.01)
    assert second[~below].mean() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("p", [0.0, 1.0, 1.5, -0.1])
def test_split_uniform_at_certain_events_keeps_the_uniform(p):
    u = np.random.default_rng(4).random(1000)
    below, fresh = _split_all(u, np.full(u.size, p))
    assert below.all() == (p >= 1.0) and below.any() == (p >= 1.0)
    np.testing.assert_array_equal(fresh, u)
