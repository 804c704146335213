"""``python -m otkit ...``: the ``otkit`` command (otkit.cli.main) without the console script."""
import sys

from .cli import main

sys.exit(main())
