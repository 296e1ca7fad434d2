"""Fixtures and helpers shared by the LM Studio client tests."""

import asyncio
import itertools

import pytest

from orchestra.services.lmstudio import LMStudioClient


class MemoryBenchmarks:
    """The BenchmarkStore interface, in memory."""

    def __init__(self):
        self.rows = []
        self._ids = itertools.count(1)

    async def add(self, **values):
        row = dict(values, id=next(self._ids))
        self.rows.append(row)
        return row["id"]

    async def list(self, model=None, limit=100):
        rows = [row for row in reversed(self.rows) if model is None or row["model"] == model]
        return rows[:limit]


@pytest.fixture
def benchmarks():
    return MemoryBenchmarks()


@pytest.fixture
def client(fake_lmstudio, benchmarks, io_loop):
    client = LMStudioClient(fake_lmstudio.url, benchmarks=benchmarks)
    yield client
    io_loop.run_sync(client.close)


async def until(condition, step=0.01):
    """Wait until condition() holds (gen_test's timeout bounds the wait)."""
    while not condition():
        await asyncio.sleep(step)


def completion_requests(fake):
    return [body for path, body in fake.requests if path.endswith("completions")]


def user(text):
    return [{"role": "user", "content": text}]


async def chunks_until_error(stream, errors):
    """(the chunks that came, the error) of a stream that must break off with one of `errors`."""
    chunks = []
    with pytest.raises(errors) as caught:
        async for chunk in stream:
            chunks.append(chunk)
    return chunks, caught.value
