"""Attributes of a package imported on first use, so that importing the package stays light."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_attributes(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: name -> getattr(import_module(exports[name]), name).
    Module names in `exports` are relative to the package unless they contain a dot."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name] if "." in exports[name] else f"{package}.{exports[name]}"
        return getattr(importlib.import_module(module), name)

    return __getattr__
