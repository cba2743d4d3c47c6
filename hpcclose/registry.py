"""Classes found by the name an input file gives them (PyFR's ``subclass_where``), in one helper.

A base class owns one :class:`Registry`; each subclass with a non-empty ``name`` adds itself from
``__init_subclass__``. The modules defining the shipped classes are imported on the first lookup, not
at import time (some import Numba). Used by closures, time integrators and problems.
"""

from __future__ import annotations

import importlib

from .errors import InputError


class Registry(dict):
    """name → class for one kind of thing (``kind``, e.g. "closure"), read from input key ``key``.

    ``builtins``: modules (absolute names) whose import registers the shipped classes.
    """

    def __init__(self, kind: str, key: str, builtins: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.kind, self.key, self.builtins = kind, key, builtins
        self._loaded = False

    def add(self, cls: type) -> None:
        """Register ``cls`` under its ``name`` (classes without a name are abstract and skipped)."""
        if getattr(cls, "name", ""):
            self[cls.name] = cls

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self.builtins:
                importlib.import_module(module)

    def names(self) -> list[str]:
        """Every registered name, the shipped ones included, sorted."""
        self._load()
        return sorted(self)

    def lookup(self, name: str, source: str | None = None) -> type:
        """The class registered as ``name``, or an :class:`InputError` naming the key (and file) and listing
        the choices."""
        self._load()
        try:
            return self[name]
        except KeyError:
            where = f"{source}: " if source else ""
            raise InputError(f"{where}{self.key}: unknown {self.kind} {name!r}; available: "
                             f"{', '.join(self.names())}") from None
