"""Importing a file by path under a fixed module name (once per process).

For the files that are not in a package but are shared: ``playwright.config.py`` (its
name has a dot) and ``site/serve.py``, used by tests/browser and bench/browser.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_file(name: str, path: Path) -> ModuleType:
    """The module in ``path``, imported as ``name`` unless ``name`` is already imported."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
