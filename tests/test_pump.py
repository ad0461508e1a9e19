"""hashing.pump and copy_and_hash: every byte hashed and written once, in order,
with reads running ahead of the digests and the write."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from evidpack import hashing
from evidpack.hashing import CHUNK, copy_and_hash, pump


def _expect(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


class NoReadinto:
    """A stream with read() only (some archive members are)."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._f.read(min(n, 777_777))  # short reads too


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 12345])
@pytest.mark.parametrize("make", [io.BytesIO, NoReadinto])
def test_copy_and_hash_copies_and_hashes_every_byte(size: int, make) -> None:
    data = os.urandom(size)
    out = io.BytesIO()
    got = copy_and_hash(make(data), out)
    assert got.size == size and got.hex == _expect(data)
    assert out.getvalue() == data
    assert got.head == data[: hashing.HEAD]


@pytest.mark.parametrize("limit", [0, 1, CHUNK, 3 * CHUNK + 5, 10 * CHUNK])
def test_copy_and_hash_stops_at_the_limit(limit: int) -> None:
    data = os.urandom(5 * CHUNK + 99)
    out = io.BytesIO()
    got = copy_and_hash(io.BytesIO(data), out, limit=limit)
    assert got.size == min(limit, len(data))
    assert out.getvalue() == data[:limit]
    assert got.hex == _expect(data[:limit])


def test_a_failing_write_is_raised_and_no_lane_is_left_working() -> None:
    data = os.urandom(9 * CHUNK)
    calls = []

    def write(view: memoryview, offset: int) -> None:
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        pump(io.BytesIO(data).readinto, ("sha256",), hashing.chunk_buffers(hashing.RING), write=write)
    assert calls[:3] == [0, CHUNK, 2 * CHUNK]  # in order, each at its offset
    lanes = hashing._lanes(2)
    for lane in lanes:  # the lanes are idle: a new job runs at once
        assert lane.submit(lambda: 1).result(timeout=5) == 1


def test_the_tee_gets_each_chunk_once_written_and_after_the_previous_digests() -> None:
    data = os.urandom(6 * CHUNK + 3)
    src = io.BytesIO(data)
    written_upto = [0]
    bufs = [bytearray(CHUNK) for _ in range(2)]
    turn = [0]
    seen = []

    def next_buffer() -> bytearray:
        turn[0] ^= 1
        return bufs[turn[0]]

    def write(view: memoryview, offset: int) -> None:
        written_upto[0] = offset + len(view)

    def written(view: memoryview) -> None:
        assert written_upto[0] == sum(len(v) for v in seen) + len(view)  # on "disk" when told
        seen.append(bytes(view))

    got = pump(src.readinto, ("sha256", "md5"), next_buffer=next_buffer, write=write, written=written)
    assert b"".join(seen) == data
    assert got.hex == _expect(data)
