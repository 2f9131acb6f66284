"""Property tests: every reader, fed random, truncated, bit-flipped and hostile bytes, gives
a result or one of our one-line errors -- never another exception, a hang, or a big allocation.

The targets are those of ``tools/fuzz.py`` (the atheris harness), so a finding there
reproduces here with ``fuzz.run(target, data)``.  Hypothesis runs derandomized with a
bounded number of examples so the file stays well under a minute; ``tools/fuzz.py`` is the
place for long runs (``--seconds N``) and for the full every-byte truncation sweep
(``--truncate``).
"""

from __future__ import annotations

import signal
import tracemalloc
from contextlib import contextmanager

from builders import targets as fuzz
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TARGETS = sorted(fuzz.TARGETS)
SEEDS = {name: fuzz.TARGETS[name].seeds() for name in TARGETS}
#: values a hostile header puts in count, size and address fields
HOSTILE = (0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF, 1 << 32,
           (1 << 63) - 1, 1 << 63, (1 << 64) - 0x1000, (1 << 64) - 1)
SECONDS = 20        # one input may take this long (the slowest seed takes ~0.1 s)
PEAK_BYTES = 64 << 20   # no input here is over 256 KiB; 64 MiB is "not O(input)"

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@contextmanager
def bounded(name: str, data: bytes, *, memory: bool = False):
    """Fail on a hang (SIGALRM) and, with ``memory``, on a peak allocation far beyond the
    input size (tracemalloc slows everything down, so only the hostile-field test uses it)."""
    def hang(*_):
        raise TimeoutError(f"{name}: no result after {SECONDS} s on {len(data)} bytes")
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(SECONDS)
    if memory:
        tracemalloc.start()
    try:
        yield
        if memory:
            _, peak = tracemalloc.get_traced_memory()
            assert peak < PEAK_BYTES + 64 * len(data), f"{name}: peak {peak:#x} bytes"
    finally:
        if memory:
            tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check(name: str, data: bytes, *, memory: bool = False) -> None:
    with bounded(name, data, memory=memory):
        fuzz.run(name, data)


def test_seeds_parse_cleanly():
    """The seeds themselves give results, not errors (else the fuzzing would be shallow)."""
    for name in TARGETS:
        assert SEEDS[name], name
        for seed in SEEDS[name]:
            check(name, seed)


@st.composite
def flipped(draw, name: str) -> bytes:
    seed = bytearray(draw(st.sampled_from(SEEDS[name])))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(seed) - 1))
        seed[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(seed)


@st.composite
def hostile(draw, name: str) -> bytes:
    """Seed with 1-4 aligned fields overwritten by counts near 2^32, sizes near 2^64..."""
    seed = bytearray(draw(st.sampled_from(SEEDS[name])))
    # most structure sits in the first few KiB: bias positions there
    limit = min(len(seed), draw(st.sampled_from((0x200, 0x1000, len(seed)))))
    for _ in range(draw(st.integers(1, 4))):
        width = draw(st.sampled_from((2, 4, 8)))
        at = draw(st.integers(0, max(0, limit - width))) & ~(width - 1)
        value = draw(st.sampled_from(HOSTILE)) & ((1 << (8 * width)) - 1)
        seed[at:at + width] = value.to_bytes(width, "little")
    return bytes(seed)


@pytest.mark.parametrize("name", TARGETS)
def test_random_bytes(name):
    @SETTINGS
    @given(st.binary(max_size=4096))
    def prop(data):
        check(name, data)
    prop()


@pytest.mark.parametrize("name", TARGETS)
def test_bit_flips(name):
    @SETTINGS
    @given(flipped(name))
    def prop(data):
        check(name, data)
    prop()


@pytest.mark.parametrize("name", TARGETS)
def test_hostile_fields(name):
    @settings(SETTINGS, max_examples=25)
    @given(hostile(name))
    def prop(data):
        check(name, data, memory=True)
    prop()


#: every byte boundary up to here (the headers and tables), then about 200 cuts spread over
#: the rest; ``python tools/fuzz.py all --truncate`` does every byte of every seed
TRUNCATE_EVERY_BYTE = 640


@pytest.mark.parametrize("name", TARGETS)
def test_truncated_everywhere(name):
    for seed in SEEDS[name]:
        step = max(61, (len(seed) - TRUNCATE_EVERY_BYTE) // 200) | 1
        cuts = list(range(0, min(len(seed), TRUNCATE_EVERY_BYTE)))
        cuts += range(TRUNCATE_EVERY_BYTE, len(seed) + 1, step)
        for cut in cuts:
            check(name, seed[:cut])
