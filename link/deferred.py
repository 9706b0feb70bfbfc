"""websockets, imported without the parts of the standard library Homeroom never uses.

Import this before websockets (link.ws and link.blocking do). websockets' own modules import
`importlib.metadata` (for a version string only a development copy looks up) and
`urllib.request` (for proxies from the environment; Homeroom dials with `proxy=None`). Loaded
for real, the two pull in email, http.client, zipfile and csv: about 2 MiB more resident in
the agent and a fifth of `homeroom-console do`'s imports. So, unless something has loaded them
already, each is bound first to a stand-in module that imports the real one on first use.
(`importlib.util.LazyLoader` does not do: the import statement reads the module's `__spec__`,
which runs it.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

#: Modules websockets imports at the top but Homeroom's way of using it never touches.
UNUSED_BY_HOMEROOM = ("importlib.metadata", "urllib.request")


class _Deferred(ModuleType):
    """Stands in for a module until something reads from it; then imports it for real."""

    def __getattr__(self, attribute: str) -> Any:
        # Only called for attributes the stand-in lacks: the import system's own look-ups
        # (__spec__, __name__) find them here and do not load the module.
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        module = importlib.import_module(self.__name__)  # once; later, from sys.modules
        return getattr(module, attribute)


def defer_import(name: str) -> ModuleType | None:
    """Bind module `name` now and import it on first use (None if it cannot be found)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        # `import a.b` binds `a` and then reads `a.b`: a normal import sets that attribute,
        # and so does the real import later (replacing the stand-in).
        setattr(sys.modules[parent], child, stand_in)
    return stand_in


for _name in UNUSED_BY_HOMEROOM:
    defer_import(_name)
