"""Registries of named entries (motion sources, lifters): each entry under its ``name``, in the
order registered, and a one-line error naming the registered ones for a name that is not."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from .errors import D3PRError


class _Named(Protocol):
    name: str


T = TypeVar("T", bound=_Named)


class Registry(Generic[T]):
    """Entries keyed by their ``name`` attribute, in the order they were first registered.

    Args:
        unknown: the error for a name not registered, a format string of ``name`` (the one asked
            for) and ``names`` (the registered ones, comma-separated).
    """

    def __init__(self, unknown: str) -> None:
        self._entries: dict[str, T] = {}
        self._unknown = unknown

    def register(self, entry: T) -> T:
        """Add (or replace) ``entry`` under its ``name``; returns it."""
        self._entries[entry.name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        """The registered names."""
        return tuple(self._entries)

    def get(self, name: str) -> T:
        """The entry registered as ``name``, or a :class:`D3PRError` listing the names."""
        if name not in self._entries:
            raise D3PRError(self._unknown.format(name=name, names=", ".join(self._entries)))
        return self._entries[name]
