"""Name-to-callable tables filled by a decorator, so a new kind (a Q&A generator, a judge, a Nova record rule) is
one function or class. The params allow the names declared in `vocabulary`, so a table that is declared there
refuses a name that is not (and a test checks that every declared name is registered)."""

from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def registrar(table: dict[str, F], declared: tuple[str, ...] | None = None) -> Callable[[str], Callable[[F], F]]:
    """A `@register("name")` decorator that puts the decorated callable into `table` under that name; with
    `declared`, a name outside it is refused when the module loads, not when a params file names it."""
    def register(name: str) -> Callable[[F], F]:
        if declared is not None and name not in declared:
            raise ValueError(f"{name!r} is registered but not declared: add it to nova_lab/core/vocabulary.py "
                             f"beside {declared}")
        def wrap(factory: F) -> F:
            table[name] = factory
            return factory
        return wrap
    return register
