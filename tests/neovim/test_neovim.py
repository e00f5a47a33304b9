"""Neovim as a second editor, end to end: headless Neovim (Debian's 0.7.2) with the
configuration the README gives (editors/neovim/heaplens.lua), the real `heaplens lsp` binary
and the simulated Pico. Saving parrot.py brings the MemoryError diagnostic to line 10, and
the hover of line 10 says what the line did and what it failed to allocate."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("HEAPLENS_BIN", str(ROOT / "target" / "debug" / "heaplens"))


def run_neovim(tmp_path: pathlib.Path) -> dict:
    nvim = shutil.which("nvim")
    assert nvim is not None, "Neovim is missing: scripts/setup.sh installs Debian's neovim"
    script = tmp_path / "parrot.py"
    shutil.copy(ROOT / "tests" / "fixtures" / "scenarios" / "parrot.py", script)
    result = tmp_path / "result.json"
    env = {
        **os.environ,
        "HEAPLENS_ROOT": str(ROOT),
        "HEAPLENS_BIN": BINARY,
        "HEAPLENS_SCRIPT": str(script),
        "HEAPLENS_RESULT": str(result),
        # A scratch home: no user configuration or state of this machine's Neovim.
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    completed = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {ROOT / 'tests' / 'neovim' / 'parrot.lua'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.exists(), f"Neovim wrote no result (exit {completed.returncode}): {completed.stderr[-2000:]}"
    return json.loads(result.read_text())


@pytest.fixture(scope="module")
def neovim(tmp_path_factory) -> dict:
    return run_neovim(tmp_path_factory.mktemp("nvim"))


def test_saving_parrot_brings_the_memory_error_diagnostic_to_line_10(neovim):
    assert "error" not in neovim, neovim
    assert neovim["filetype"] == "python"
    assert neovim["steps"] == ["attached", "saved", "diagnosed", "hovered"]
    errors = [d for d in neovim["diagnostics"] if d["severity"] == 1]
    assert len(errors) == 1, neovim["diagnostics"]
    error = errors[0]
    assert error["lnum"] == 9  # line 10
    assert error["source"] == "heaplens"
    assert error["code"] == "memory-error-heap-full"
    assert error["message"].startswith("allocation of 98,305 bytes exceeds the longest free run at failure, ")
    assert error["message"].endswith("the heap is full")


def test_the_hover_of_line_10_shows_its_allocations_and_the_failed_one(neovim):
    hover = neovim.get("hover")
    assert isinstance(hover, str), neovim
    assert "**HeapLens** · line 10 · run " in hover
    assert "| hits | 14 |" in hover
    assert "| failed here | tried to allocate 96.0 KiB (98,305 bytes) and failed (`MemoryError`) |" in hover
    # The diagnostic is Neovim's to show: the hover does not repeat it.
    assert "exceeds the longest free run" not in hover
