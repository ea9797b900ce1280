"""``python -m workers.cli``: the ``media-ingest`` command, for a process started without the console script."""

import sys

from workers.cli import main

sys.exit(main())
