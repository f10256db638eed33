"""``python -m mtlclassic.cli``: the ``mtlclassic`` command."""

import sys

from . import main

sys.exit(main())
