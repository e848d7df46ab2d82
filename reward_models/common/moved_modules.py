"""Old module paths that still import, with a ``DeprecationWarning`` naming the new path.

Each top-level package registers its table, old dotted path -> new dotted path, with ``alias_moved_modules``
(``import text_gym.vector`` gives the module ``text_gym.envs.vector``, the same object). A name is only looked up
here after the normal import found nothing, so a module or package that exists under the old path wins.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A meta-path finder whose modules are the modules at the new paths."""

    def __init__(self) -> None:
        self.moved: dict[str, str] = {}
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}  # new path -> its spec, while importing

    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moved:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = self.moved[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module was imported under its new path); give it back the spec of its new path,
        which the import system replaced by the old path's."""
        module.__spec__ = self._specs.pop(module.__name__)


_FINDER = _MovedModuleFinder()


def alias_moved_modules(moved: Mapping[str, str]) -> None:
    """Make each old dotted path in ``moved`` import the module at its new path, with a ``DeprecationWarning``."""
    _FINDER.moved.update(moved)
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
