"""Each role installs as a distribution of its own, with the dependency ranges stated at the root.

installers/packages/{core,agent,hub,console} build wheels from the repository's own folders;
pyproject.toml at the root is the all-in-one development install. The ranges are written in
both, so these tests hold them to one another and to what the code imports. Then they install
the agent (through its installer), the hub and the console, each alone and for real, into
fresh virtual environments.
"""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.classroom import classroom
from tests.support import scaled

ROOT = Path(__file__).resolve().parent.parent
ROLES_DIR = ROOT / "installers" / "packages"
INSTALL_AGENT = ROOT / "installers" / "linux" / "install-agent.sh"
ROLES = ("core", "agent", "hub", "console")
PARTS = ("protocol", "link", "hub", "agent", "console")


def project(pyproject: Path) -> dict[str, Any]:
    with pyproject.open("rb") as file:
        return tomllib.load(file)


def role_project(role: str) -> dict[str, Any]:
    return project(ROLES_DIR / role / "pyproject.toml")


def requirements(meta: dict[str, Any]) -> dict[str, Requirement]:
    """A project's runtime requirements by canonical name."""
    found = (Requirement(line) for line in meta["project"]["dependencies"])
    return {canonicalize_name(r.name): r for r in found}


def parts_of(role: str) -> list[str]:
    """The repository folders a role's wheel is made of."""
    force_include = role_project(role)["tool"]["hatch"]["build"]["targets"]["wheel"]
    return sorted(force_include["force-include"].values())


def role_of(distribution: str) -> str:
    return distribution.removeprefix("homeroom-")


def roles_needed_by(role: str) -> set[str]:
    """The role itself and every homeroom role it depends on, transitively."""
    needed = {role}
    for name in requirements(role_project(role)):
        if name.startswith("homeroom-"):
            needed |= roles_needed_by(role_of(name))
    return needed


def imported_top_level_names(part: str) -> set[str]:
    """Top-level names that the part's modules import (absolute imports only)."""
    names: set[str] = set()
    for source in (ROOT / part).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


# --- one set of ranges ---------------------------------------------------------------------


def test_every_role_states_the_root_ranges_word_for_word() -> None:
    root = project(ROOT / "pyproject.toml")
    root_ranges = requirements(root)
    version = root["project"]["version"]
    stated: set[str] = set()
    for role in ROLES:
        meta = role_project(role)
        assert meta["project"]["version"] == version, role
        assert meta["project"]["requires-python"] == root["project"]["requires-python"], role
        for name, requirement in requirements(meta).items():
            if name.startswith("homeroom-"):
                assert str(requirement.specifier) == f"=={version}", (role, name)
            else:
                assert name in root_ranges, f"{role} needs {name}; add it to the root pyproject"
                assert requirement.specifier == root_ranges[name].specifier, (role, name)
                stated.add(name)
    assert stated == set(root_ranges), "a root dependency that no role needs"


@pytest.mark.parametrize("role", ROLES)
def test_a_role_declares_what_its_code_imports(role: str) -> None:
    own = roles_needed_by(role)
    parts_within_reach = {part for needed in own for part in parts_of(needed)}
    declared = {name for needed in own for name in requirements(role_project(needed))}
    distributions = packages_distributions()
    for part in parts_of(role):
        for name in imported_top_level_names(part):
            if name in PARTS:
                assert name in parts_within_reach, f"{part} imports {name}; {role} lacks it"
            else:
                needed = {canonicalize_name(d) for d in distributions.get(name, [name])}
                assert needed & declared, f"{part} imports {name}; declare it for {role}"


def test_the_roles_together_are_the_root_package() -> None:
    scripts = project(ROOT / "pyproject.toml")["project"]["scripts"]
    role_scripts: dict[str, str] = {}
    for role in ROLES:
        role_scripts |= role_project(role)["project"].get("scripts", {})
    assert role_scripts == scripts
    assert sorted(part for role in ROLES for part in parts_of(role)) == sorted(PARTS)


# --- wheels and installs -------------------------------------------------------------------


PIP = [sys.executable, "-m", "pip"]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing from this checkout or this test run (coverage) may leak into what runs.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV"} and not k.startswith("COVERAGE_")
    }
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every role's wheel, as `make wheels` builds them."""
    house = tmp_path_factory.mktemp("wheels")
    roles = [str(ROLES_DIR / role) for role in ROLES]
    run([*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(house), *roles],
        house)  # fmt: skip
    yield house


def wheel_of(house: Path, role: str) -> Path:
    (wheel,) = house.glob(f"homeroom_{role}-*.whl")
    return wheel


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_a_wheel_holds_its_role_parts_only(wheelhouse: Path, role: str) -> None:
    names = zipfile.ZipFile(wheel_of(wheelhouse, role)).namelist()
    folders = {name.split("/")[0] for name in names}
    version = project(ROOT / "pyproject.toml")["project"]["version"]
    assert folders == {*parts_of(role), f"homeroom_{role}-{version}.dist-info"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    if role == "console":
        assert "console/app.tcss" in names


@pytest.mark.slow
@pytest.mark.parametrize(
    ("role", "absent", "loads"),
    [
        ("hub", {"textual", "agent", "console", "homeroom-agent"}, "hub.server"),
        # The console's demo embeds a hub and simulated agents: it needs everything.
        ("console", set(), "console.app, console.demo"),
    ],
)
def test_a_role_installs_alone_in_a_fresh_environment(
    wheelhouse: Path, tmp_path: Path, role: str, absent: set[str], loads: str
) -> None:
    environment = tmp_path / f"homeroom-{role}"
    venv.create(environment)
    python = str(environment / "bin" / "python")
    # The documented install (README.md), every dependency resolved and installed for real;
    # this pip installs into the new environment, so that it need not install a pip of its own.
    run([*PIP, "--python", python, "install", "--quiet", "--find-links", str(wheelhouse),
         f"homeroom-{role}"], tmp_path)  # fmt: skip

    help_text = run([str(environment / "bin" / f"homeroom-{role}"), "--help"], tmp_path).stdout
    assert f"homeroom-{role}" in help_text
    assert absent & inventory(Path(python), tmp_path) == set()
    run([python, "-c", f"import {loads}"], tmp_path)


@pytest.mark.slow
async def test_the_agent_installer_makes_an_environment_with_the_agent_alone_and_enrols(
    wheelhouse: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    # systemd does not run here: a stand-in systemctl notes what the installer asks of it.
    systemctl = stand_ins / "systemctl"
    systemctl.write_text('#!/bin/sh\necho "$*" >> "$HOME/systemctl.log"\n')
    systemctl.chmod(0o755)
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
        "PATH": f"{stand_ins}:{os.environ['PATH']}",
        "HOME": str(home),
        "HOMEROOM_WHEELS": str(wheelhouse),
        # The student's home is new; pip's cache of downloads need not be.
        "PIP_CACHE_DIR": run([*PIP, "cache", "dir"], tmp_path).stdout.strip(),
    }
    async with classroom(tmp_path / "school") as room:
        installer = await asyncio.create_subprocess_exec(
            "bash", str(INSTALL_AGENT), room.token(), "Ada's laptop",
            env=env, cwd=tmp_path, stdout=PIPE, stderr=STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(installer.communicate(), scaled(300))
        assert installer.returncode == 0, output.decode()
        assert [device.name for device in room.store.devices()] == ["Ada's laptop"]

    environment = home / ".local/share/homeroom-agent/venv"
    command = home / ".local/bin/homeroom-agent"
    assert command.resolve() == (environment / "bin/homeroom-agent").resolve()
    assert (home / ".config/homeroom-agent/device.json").is_file()
    assert "enable --now homeroom-agent" in (home / "systemctl.log").read_text()
    assert (home / ".config/systemd/user/homeroom-agent.service").is_file()

    assert "enroll" in run([str(command), "--help"], tmp_path).stdout
    agent_only = inventory(environment / "bin/python", tmp_path)
    assert "homeroom-agent" in agent_only
    assert {"textual", "hub", "console", "homeroom-hub", "homeroom-console"} & agent_only == set()


def inventory(python: Path, cwd: Path) -> set[str]:
    """Distributions installed, and the parts and Textual if importable, in an environment."""
    return set(run([str(python), "-c", INVENTORY], cwd).stdout.split())


INVENTORY = """
import importlib.metadata, importlib.util
names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
names |= {m for m in ("textual", "hub", "agent", "console") if importlib.util.find_spec(m)}
print("\\n".join(sorted(names)))
"""
