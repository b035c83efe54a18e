"""Name-to-callable tables filled by a decorator, so a new kind (a Q&A generator, a judge, a Nova record rule) is
one function or class, and the params allow exactly the names registered."""

from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def registrar(table: dict[str, F]) -> Callable[[str], Callable[[F], F]]:
    """A `@register("name")` decorator that puts the decorated callable into `table` under that name."""
    def register(name: str) -> Callable[[F], F]:
        def wrap(factory: F) -> F:
            table[name] = factory
            return factory
        return wrap
    return register
