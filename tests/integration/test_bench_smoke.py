"""Smoke test of the benchmarks: ``bench/run.py --size tiny`` runs end to end.

It starts its own backends (one per engine configuration, plus the minimal protocol
responder ``bench/responder.mjs`` for the ``responder`` one), drives the JS client,
rivetkit_web and the raw floor with tiny counts, and must write the three result
files with every figure present. The numbers themselves are not checked: tiny
counts on a shared machine say nothing; ``--size full`` is for measuring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "bench", "run.py")
TIMEOUT_S = 300  # normally 25-45 s; generous for a loaded machine


def test_bench_tiny_writes_every_figure(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="the benchmark chart needs matplotlib (pip install matplotlib)")
    env = {k: v for k, v in os.environ.items() if k != "RIVETKIT_TEST_ENDPOINT"}
    try:
        res = subprocess.run(
            # the Chromium clients need a browser: tests/browser/test_bench_browser_smoke.py
            [sys.executable, RUN, "--size", "tiny", "--no-browser", "--out", str(tmp_path)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:  # run.py's backends die with it (harness watchdog)
        pytest.fail(f"bench/run.py --size tiny took more than {TIMEOUT_S} s:\n{(exc.stderr or '')[-4000:]}")
    assert res.returncode == 0, f"exit {res.returncode}\n--- stderr ---\n{res.stderr[-6000:]}"

    for name in ("latest.json", "latest.md", "latest.png"):
        assert (tmp_path / name).is_file(), f"{name} not written"
        assert (tmp_path / name).stat().st_size > 0, f"{name} is empty"
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["missing"] == []
    configs = ("nodelay", "stock", "responder")
    assert set(data["configs"]) == set(configs)
    assert data["configs"]["responder"]["server"]["rtt"]["ws_frames_in"] > 0  # the responder's own CPU
    for cfg in data["configs"].values():
        for name, client in cfg["clients"].items():
            assert not client["errors"], f"{name}: {client['errors']}"

    sys.path.insert(0, os.path.join(REPO, "bench"))
    try:
        import report
    finally:
        sys.path.remove(os.path.join(REPO, "bench"))
    rows = data["rows"]
    expected = {(cfg, fid, enc) for cfg in configs for fid, *_ in report.FIGURES
                for enc in ("json", "bare")}
    expected.add(("-", report.IMPORT_FIGURE[0], "-"))
    assert {(r["config"], r["figure"], r["encoding"]) for r in rows} == expected
    markdown = (tmp_path / "latest.md").read_text()
    for row in rows:
        for kind in ("js", "ours", "floor"):
            value = row[kind]
            assert isinstance(value, (int, float)), f"{row['config']} {row['figure']} {row['encoding']}: {kind}"
        assert row["label"] in markdown
    assert "| figure | enc | JS | ours | floor | ours/JS | ours/floor |" in markdown
