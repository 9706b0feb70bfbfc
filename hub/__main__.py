"""`python -m hub` is `homeroom-hub`."""

import sys

from .cli import main

sys.exit(main())
