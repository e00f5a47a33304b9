"""Shared fixtures: the real `heaplens lsp` binary driven by pytest-lsp's client (pygls) with
VS Code's recorded client capabilities, against the simulated Pico."""

import os
import pathlib
import shutil
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "fixtures" / "scenarios"
BINARY = os.environ.get("HEAPLENS_BIN", str(ROOT / "target" / "debug" / "heaplens"))

# Custom notifications, recorded per client.
CUSTOM = (
    "heaplens/snapshot",
    "heaplens/decorations",
    "heaplens/boardStatus",
    "heaplens/output",
    "heaplens/jobFinished",
    "heaplens/jobStarted",
    "heaplens/replState",
    "heaplens/replOutput",
    "heaplens/timeline",
)


def _record_custom(client: LanguageClient):
    client.custom = {m: [] for m in CUSTOM}  # type: ignore[attr-defined]
    # Every custom notification in arrival order: (method, params).
    client.arrivals = []  # type: ignore[attr-defined]
    for method in CUSTOM:

        def handler(params, method=method):
            client.custom[method].append(params)  # type: ignore[attr-defined]
            client.arrivals.append((method, params))  # type: ignore[attr-defined]

        client.feature(method)(handler)

    # VS Code's capabilities announce refresh support; answer as VS Code would.
    client.refreshes = []  # type: ignore[attr-defined]
    for method in ("workspace/codeLens/refresh", "workspace/inlayHint/refresh"):

        def refresh(params, method=method):
            client.refreshes.append(method)  # type: ignore[attr-defined]
            return None

        client.feature(method)(refresh)


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[BINARY, "lsp"]),
)
async def client(lsp_client: LanguageClient, tmp_path_factory):
    _record_custom(lsp_client)
    workspace = tmp_path_factory.mktemp("ws")
    for script in SCENARIOS.glob("*.py"):
        shutil.copy(script, workspace / script.name)
    lsp_client.workspace_dir = workspace  # type: ignore[attr-defined]
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=workspace.as_uri(),
        initialization_options={
            "heaplens": {"board": "simulated", "runTimeoutSeconds": 30, "thresholds": {"lineBytes": 65536}}
        },
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()
