"""Name-to-factory tables filled by a decorator, so a new kind (a Q&A generator, a judge) is one class."""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


def registrar(table: dict[str, Callable[[], T]]) -> Callable[[str], Callable[[Callable[[], T]], Callable[[], T]]]:
    """A `@register("name")` decorator that puts the decorated factory into `table` under that name."""
    def register(name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        def wrap(factory: Callable[[], T]) -> Callable[[], T]:
            table[name] = factory
            return factory
        return wrap
    return register
