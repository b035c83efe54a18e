"""Waiting on Bedrock's long jobs: fetch the state again after a delay that grows by half each time."""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


def poll(fetch: Callable[[], T], first_delay: float, max_delay: float,
         sleep: Callable[[float], None]) -> Iterator[T]:
    """Each fresh state in turn; the caller returns or raises once the state is final."""
    delay = first_delay
    while True:
        yield fetch()
        sleep(delay)
        delay = min(delay * 1.5, max_delay)
