"""link.ws: websockets without the standard-library modules Homeroom never uses, until used."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_dialling_code_leaves_the_unused_modules_unloaded() -> None:
    loaded = _run(
        "import sys\n"
        "import link.dial, link.reconnect\n"
        "heavy = ('email.message', 'http.client', 'zipfile', 'csv')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    assert loaded == ""


def test_a_deferred_module_works_on_first_use_and_is_imported_once() -> None:
    out = _run(
        "import sys\n"
        "import link.ws\n"
        "import importlib.metadata as metadata, urllib.request\n"
        "print(metadata.version('websockets') != '')\n"
        "real = sys.modules['importlib.metadata']\n"
        "print(type(real).__name__, metadata.files is real.files)\n"
        "print(callable(urllib.request.getproxies), type(urllib.request).__name__)\n"
        "from importlib.metadata import distribution\n"
        "print(distribution is real.distribution)\n"
    )
    assert out.splitlines() == ["True", "module True", "True module", "True"]


def test_a_module_already_loaded_is_left_as_it_is() -> None:
    out = _run(
        "import importlib.metadata as before\n"
        "import link.ws, sys\n"
        "print(sys.modules['importlib.metadata'] is before)\n"
    )
    assert out == "True"
