"""``python -m cli``: the ``elmol-nlu`` command."""

import sys

from cli.main import main

sys.exit(main())
