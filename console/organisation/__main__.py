"""`python -m console.organisation`: the same as `homeroom-org`."""

import sys

from .cli import main

sys.exit(main())
