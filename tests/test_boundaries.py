"""The parts' boundaries, as the running code sees them and as `make lint` enforces them.

Each part is imported in a fresh interpreter and `sys.modules` is inspected afterwards (as
Harlequin does), which catches what a static check cannot: a third-party module that pulls
in I/O, or a lazy import that runs at import time. The import-linter contracts in
pyproject.toml state the same rules statically; the last tests prove that they bite.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import link
import protocol

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("protocol", "link", "hub", "agent", "console")
IO = ("asyncio", "websockets", "socket", "ssl", "selectors", "sqlite3")
UI = ("textual", "tkinter")


def submodules(package: ModuleType) -> list[str]:
    """Every module directly inside a package, by its full name."""
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


def top_level_modules_loaded_by(*modules: str) -> set[str]:
    """The top-level names in `sys.modules` after a fresh interpreter imports `modules`."""
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    # Bare, as a device would start it: coverage, when measuring child processes, would load
    # its own modules (sqlite3 among them) into this interpreter.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_protocol_loads_no_io_and_no_other_part() -> None:
    modules = submodules(protocol)
    assert "protocol.handshake" in modules
    loaded = top_level_modules_loaded_by(*modules)
    assert loaded & {*IO, *UI, "link", "hub", "agent", "console"} == set()


def test_link_loads_no_server_device_or_ui_code() -> None:
    modules = submodules(link)
    assert "link.dial" in modules
    loaded = top_level_modules_loaded_by(*modules)
    assert loaded & {*UI, "hub", "agent", "console"} == set()


@pytest.mark.parametrize("module", ["agent.runtime", "agent.cli"])
def test_agent_loads_no_tk_textual_hub_or_console(module: str) -> None:
    # The Tk desktop is one implementation behind agent.desktop, loaded only when chosen.
    loaded = top_level_modules_loaded_by(module)
    assert loaded & {*UI, "hub", "console"} == set()


@pytest.mark.parametrize("module", ["hub.server", "hub.cli"])
def test_hub_loads_no_ui_agent_or_console(module: str) -> None:
    loaded = top_level_modules_loaded_by(module)
    assert loaded & {*UI, "agent", "console"} == set()


@pytest.mark.parametrize("module", ["console.organisation.cli", "console.keys"])
def test_the_key_tools_load_no_hub_agent_or_ui(module: str) -> None:
    # Run on an admin's or a teacher's machine: they need the protocol and a file writer only.
    loaded = top_level_modules_loaded_by(module)
    assert loaded & {*UI, "hub", "agent", "websockets", "sqlite3"} == set()


# --- the import-linter contracts bite --------------------------------------------------

AGENT_CONTRACT = "agent carries no hub, console or Textual code"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter over a copy of the parts, so that it reads that copy only."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


@pytest.fixture
def copy_of_the_tree(tmp_path: Path) -> Path:
    pytest.importorskip("importlinter", reason="import-linter is in the lint extra")
    for part in PARTS:
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contracts_hold_on_the_tree(copy_of_the_tree: Path) -> None:
    result = lint_imports(copy_of_the_tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{AGENT_CONTRACT} KEPT" in result.stdout


def test_an_agent_importing_the_hub_breaks_the_build(copy_of_the_tree: Path) -> None:
    with (copy_of_the_tree / "agent" / "desktop.py").open("a") as module:
        module.write("\nfrom hub import server  # a student device must never carry this\n")
    result = lint_imports(copy_of_the_tree)
    assert result.returncode != 0
    assert f"{AGENT_CONTRACT} BROKEN" in result.stdout
    assert "agent.desktop -> hub.server" in result.stdout
