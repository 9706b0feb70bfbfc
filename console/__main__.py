"""`python -m console` is `homeroom-console`."""

import sys

from .start import main

sys.exit(main())
