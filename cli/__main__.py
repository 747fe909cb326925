"""``python -m cli``: the ``graphsvc`` command."""

import sys

from cli.commands import main

sys.exit(main())
