"""``python -m intervisor.cli``: the ``intervisor`` command."""

import sys

from intervisor.cli import main

sys.exit(main())
