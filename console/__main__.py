"""`python -m console` is `homeroom-console`."""

import sys

from .cli import main

sys.exit(main())
