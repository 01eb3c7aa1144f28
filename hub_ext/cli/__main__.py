"""``python -m hub_ext.cli``: the ``hubfront`` command (a workload runs it so, without the script on PATH)."""

import sys

from . import main

sys.exit(main())
