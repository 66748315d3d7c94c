#!/usr/bin/env python3
"""Build the browser demo in site/ so that it works offline (stdlib only).

Steps, each skipped when its output is already up to date:

1. ``npm ci`` in site/ (pins ``pyodide`` and ``@pyscript/core``, see package.json).
2. Copy the Pyodide runtime into ``site/vendor/pyodide/`` and the PyScript dist into
   ``site/vendor/pyscript/``.
3. npm's Pyodide ships no micropip: download the exact ``micropip``/``packaging`` wheels
   that ``pyodide-lock.json`` names from PyPI, put them beside the lock and rewrite
   their ``file_name``/``sha256`` in ``site/vendor/pyodide/pyodide-lock.json``.
4. Build the ``rivetkit_web`` wheel from the repo into ``site/wheels/``.
5. Write the PyScript config ``site/wheels/pyscript.json`` naming the interpreter and
   the wheel, unpacked by ``files`` (paths in it: ``interpreter`` is relative to the
   page, ``files`` to the config file, as PyScript resolves them).

``site/vendor/`` and ``site/wheels/`` are generated (gitignored).

Usage: ``python site/build.py [--force] [--quiet]``; ``build()`` from Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SITE = Path(__file__).resolve().parent
REPO = SITE.parent
NODE_MODULES = SITE / "node_modules"
VENDOR = SITE / "vendor"
PYODIDE_OUT = VENDOR / "pyodide"
PYSCRIPT_OUT = VENDOR / "pyscript"
WHEELS = SITE / "wheels"
CONFIG = WHEELS / "pyscript.json"
PACKAGE_NAME = "rivetkit_web"

# Pyodide runtime files the page needs (plus source maps when present).
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.js",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
    "pyodide.mjs.map",
    "pyodide.js.map",
)
# Packages from the lock that the page loads (micropip for PyScript's `packages`).
LOCK_WHEELS = ("micropip", "packaging")

_quiet = False


def log(msg: str) -> None:
    if not _quiet:
        print(f"[build] {msg}", flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def copy_if_changed(src: Path, dst: Path) -> bool:
    if dst.exists():
        s, d = src.stat(), dst.stat()
        if s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime):
            return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)
    return True


def sync_tree(src: Path, dst: Path) -> int:
    """Mirror ``src`` into ``dst`` (copy changed files, drop files gone from src)."""
    changed = 0
    wanted = set()
    for path in src.rglob("*"):
        if path.is_file():
            rel = path.relative_to(src)
            wanted.add(rel)
            changed += copy_if_changed(path, dst / rel)
    for path in list(dst.rglob("*")) if dst.exists() else []:
        if path.is_file() and path.relative_to(dst) not in wanted:
            path.unlink()
            changed += 1
    return changed


# -- 1. npm ------------------------------------------------------------------------


def ensure_npm(force: bool = False) -> None:
    marker = NODE_MODULES / ".package-lock.json"  # written by npm on every install
    lock = SITE / "package-lock.json"
    if not force and marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        for pkg in ("pyodide", "@pyscript/core"):
            if not (NODE_MODULES / pkg / "package.json").exists():
                break
        else:
            return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: install Node.js (npm) to build the site")
    log("npm ci")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SITE, check=True
    )


def npm_version(pkg: str) -> str:
    return json.loads((NODE_MODULES / pkg / "package.json").read_text())["version"]


# -- 2./3. Pyodide, micropip, PyScript -----------------------------------------------


def vendor_pyodide() -> None:
    src = NODE_MODULES / "pyodide"
    for name in PYODIDE_FILES:
        if name == "pyodide-lock.json":
            continue
        if (src / name).exists():
            copy_if_changed(src / name, PYODIDE_OUT / name)
        elif not name.endswith(".map"):
            raise SystemExit(f"npm pyodide lacks {name}")

    lock = json.loads((src / "pyodide-lock.json").read_text())
    python_version = lock["info"]["python"]  # e.g. "3.14.2"
    py_short = ".".join(python_version.split(".")[:2])
    for name in LOCK_WHEELS:
        entry = lock["packages"][name]
        wheel = ensure_pypi_wheel(entry["name"], entry["version"], py_short)
        entry["file_name"] = wheel.name
        entry["sha256"] = sha256_file(wheel)
    text = json.dumps(lock, indent=None, separators=(",", ":"), sort_keys=False)
    if write_if_changed(PYODIDE_OUT / "pyodide-lock.json", text):
        log("wrote vendor/pyodide/pyodide-lock.json")


def ensure_pypi_wheel(name: str, version: str, python_version: str) -> Path:
    """The pure-Python wheel ``name==version`` from PyPI, in vendor/pyodide/."""
    prefix = f"{name.replace('-', '_')}-{version}-"
    found = sorted(PYODIDE_OUT.glob(f"{prefix}*.whl"))
    if found:
        return found[0]
    log(f"pip download {name}=={version}")
    PYODIDE_OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--python-version", python_version,
                "--implementation", "py", "--abi", "none", "--platform", "any",
                "-d", tmp, f"{name}=={version}",
            ],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel for {name}=={version}, got {wheels}")
        dst = PYODIDE_OUT / wheels[0].name
        shutil.move(str(wheels[0]), dst)
    return dst


def vendor_pyscript() -> None:
    n = sync_tree(NODE_MODULES / "@pyscript" / "core" / "dist", PYSCRIPT_OUT)
    if n:
        log(f"vendor/pyscript: {n} files updated")


# -- 4. the rivetkit_web wheel ------------------------------------------------------


def _source_files() -> list[Path]:
    files = [REPO / "pyproject.toml"]
    for pattern in ("README*", "LICENSE*", "NOTICE*"):
        files += sorted(REPO.glob(pattern))
    for path in sorted((REPO / PACKAGE_NAME).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append(path)
    return files


def _fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(REPO)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def build_wheel(force: bool = False) -> Path:
    if not (REPO / "pyproject.toml").exists():
        raise SystemExit(f"{REPO / 'pyproject.toml'} missing: cannot build the {PACKAGE_NAME} wheel")
    files = _source_files()
    fingerprint = _fingerprint(files)
    stamp = WHEELS / ".fingerprint"
    existing = sorted(WHEELS.glob(f"{PACKAGE_NAME}-*.whl"))
    if (
        not force
        and len(existing) == 1
        and stamp.exists()
        and stamp.read_text().strip() == fingerprint
    ):
        return existing[0]

    log(f"building the {PACKAGE_NAME} wheel")
    WHEELS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Build from a copy so no build/ or *.egg-info lands in the shared work tree.
        src = Path(tmp) / "src"
        for path in files:
            dst = src / path.relative_to(REPO)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst)
        out = Path(tmp) / "out"
        cmd = [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
            "--disable-pip-version-check", "-w", str(out), str(src),
        ]
        subprocess.run(cmd, check=True)
        built = list(out.glob(f"{PACKAGE_NAME}-*.whl"))
        if len(built) != 1:
            raise SystemExit(f"wheel build produced {built}")
        for old in existing:
            old.unlink()
        wheel = WHEELS / built[0].name
        shutil.move(str(built[0]), wheel)
    stamp.write_text(fingerprint + "\n")
    log(f"built {wheel.relative_to(REPO)}")
    return wheel


# -- 5. the page config --------------------------------------------------------------


def write_config(wheel: Path) -> None:
    config = {
        # relative to the page (PyScript resolves `interpreter` against location.href)
        "interpreter": "./vendor/pyodide/pyodide.mjs",
        # Our wheel, unpacked into the working directory (on sys.path) by PyScript's
        # `files` (relative to this file) instead of installed by micropip: it has no
        # browser dependencies, and this skips loading micropip and packaging, ~0.45 s
        # of a ~3.3 s cold start here. `packages = ["./<wheel>"]` works too (README).
        "files": {f"./{wheel.name}": "./*"},
    }
    if write_if_changed(CONFIG, json.dumps(config, indent=2) + "\n"):
        log(f"wrote {CONFIG.relative_to(REPO)}")


def build(*, force: bool = False, quiet: bool = False) -> Path:
    """Build everything; return the path of the rivetkit_web wheel in site/wheels/."""
    global _quiet
    _quiet = quiet
    t0 = time.monotonic()
    ensure_npm(force)
    vendor_pyodide()
    vendor_pyscript()
    wheel = build_wheel(force)
    write_config(wheel)
    log(
        f"ready in {time.monotonic() - t0:.1f} s (pyodide {npm_version('pyodide')}, "
        f"@pyscript/core {npm_version('@pyscript/core')}, {wheel.name})"
    )
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild everything")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    build(force=args.force, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
