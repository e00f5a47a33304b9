"""Trust and the sandbox through the language server (issue 15, part 4): in an untrusted
workspace nothing runs on any board (not on save, not from Run File — which the lens and the
keybinding also invoke) until trust is granted; the board status says whether the simulated
Pico is sandboxed, and where it is not, runs wait until the user allowed them."""

import ctypes
import os
import shutil

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from conftest import BINARY, SCENARIOS, _record_custom
from test_lsp import JobFailed, command_job, open_doc, run_file, uri_of, wait_until

pytestmark = pytest.mark.asyncio


def landlock_abi() -> int:
    """The kernel's Landlock ABI (0: none), asked as the server asks it."""
    libc = ctypes.CDLL(None, use_errno=True)
    sys_landlock_create_ruleset = 444  # x86_64 and aarch64 alike
    return max(0, libc.syscall(sys_landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


async def start(lsp_client: LanguageClient, tmp_path_factory, options: dict):
    _record_custom(lsp_client)
    workspace = tmp_path_factory.mktemp("ws")
    for script in SCENARIOS.glob("*.py"):
        shutil.copy(script, workspace / script.name)
    lsp_client.workspace_dir = workspace  # type: ignore[attr-defined]
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=workspace.as_uri(),
        initialization_options={"heaplens": {"board": "simulated", "runTimeoutSeconds": 30}, **options},
    )
    await lsp_client.initialize_session(params)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[BINARY, "lsp"]))
async def untrusted(lsp_client: LanguageClient, tmp_path_factory):
    await start(lsp_client, tmp_path_factory, {"workspaceTrusted": False})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[BINARY, "lsp"], server_env={**os.environ, "HEAPLENS_SIM_SANDBOX": "off"}
    )
)
async def unsandboxed(lsp_client: LanguageClient, tmp_path_factory):
    await start(lsp_client, tmp_path_factory, {})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[BINARY, "lsp"]))
async def trusted(lsp_client: LanguageClient, tmp_path_factory):
    await start(lsp_client, tmp_path_factory, {})
    yield
    await lsp_client.shutdown_session()


async def test_an_untrusted_workspace_runs_nothing_until_trust_is_granted(untrusted: LanguageClient):
    client = untrusted
    uri = open_doc(client, "known_sizes.py")
    # On save: no run. A capture queued after the save finishes; no run was queued before it.
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    capture = await command_job(client, "heaplens.captureHeap")
    finished = client.custom["heaplens/jobFinished"]
    assert capture.jobId in [job.jobId for job in finished]
    assert [job.kind for job in finished if job.kind == "run"] == []
    assert client.custom["heaplens/output"] == []
    # Run File (also what the lens and the keybinding invoke): refused, with a code to switch on.
    with pytest.raises(JsonRpcException) as refused:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="heaplens.runFile", arguments=[uri])
        )
    assert refused.value.data == {"code": "untrusted"}
    # The lens is still offered: it leads to the same refusal, never to a run.
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert any(lens.command and lens.command.command == "heaplens.runFile" for lens in lenses)
    assert [job.kind for job in finished if job.kind == "run"] == []
    # Trust granted: runs work.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"workspaceTrusted": True}))
    run = await run_file(client, uri_of(client, "known_sizes.py"))
    assert run.exception is None
    assert [job.kind for job in finished if job.kind == "run"] == ["run"]


async def test_the_board_status_says_the_simulated_pico_is_sandboxed(trusted: LanguageClient):
    if landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")
    client = trusted
    await wait_until(lambda: any(s.state == "simulated" for s in client.custom["heaplens/boardStatus"]), timeout=20)
    status = next(s for s in client.custom["heaplens/boardStatus"] if s.state == "simulated")
    assert status.sandbox == "sandboxed"


async def test_an_unsandboxed_simulated_pico_runs_only_once_allowed(unsandboxed: LanguageClient):
    client = unsandboxed
    await wait_until(lambda: any(s.state == "simulated" for s in client.custom["heaplens/boardStatus"]), timeout=20)
    status = next(s for s in client.custom["heaplens/boardStatus"] if s.state == "simulated")
    assert status.sandbox == "notSandboxed"
    uri = open_doc(client, "known_sizes.py")
    with pytest.raises(JobFailed) as refused:
        await run_file(client, uri)
    assert refused.value.code == "notSandboxed"
    assert client.custom["heaplens/output"] == []
    # The user allowed it (the extension asks once and remembers).
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"unsandboxedSimulatorAllowed": True})
    )
    run = await run_file(client, uri)
    assert run.exception is None
