"""Print pip constraints that pin every runtime dependency to the lowest version its range allows.

`make test-oldest` installs with these, so each range in pyproject.toml is one the suite
has passed with at both ends. Usage: python .ci/oldest_constraints.py [pyproject.toml]
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement


def oldest_pins(pyproject: Path) -> list[str]:
    """`name==floor` for each runtime dependency; one without a `>=` floor is an error."""
    pins = []
    for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise SystemExit(
                f"{pyproject}: give {line!r} exactly one lower bound (>=), "
                "so that the oldest allowed version can be tested."
            )
        pins.append(f"{requirement.name}=={floors[0]}")
    return pins


if __name__ == "__main__":
    print("\n".join(oldest_pins(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
