"""The agent as a student device has it: its role's wheels, installed alone in a fresh venv.

The development environment holds what the console, the hub and the tests need too, and
some of it changes what the agent loads: msgspec, for one, imports typing_extensions when it
is installed (Textual and aiohttp bring it here; nothing a device installs does). Figures
about a device (memory above all) are taken from an agent installed as install-agent.sh
installs it: `homeroom-core` and `homeroom-agent` wheels built from this checkout, their
dependencies resolved by pip, every module compiled at install.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = ROOT / "installers" / "packages"


def _run(command: list[str]) -> None:
    # Nothing of this checkout may leak in: no PYTHONPATH, no active venv, no coverage.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV"} and not k.startswith("COVERAGE_")
    }
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def installed_agent(folder: Path) -> Path:
    """Build the wheels and install the agent role alone under `folder`; its Python."""
    wheels = folder / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
          str(ROLES / "core"), str(ROLES / "agent")])  # fmt: skip
    environment = folder / "homeroom-agent"
    venv.create(environment)
    python = environment / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "--quiet", "--find-links", str(wheels),
          "homeroom-agent"])  # fmt: skip
    return python
