"""``python -m tools.benchmarks``: see ``benchmarks.run``."""

from tools.benchmarks.run import main

raise SystemExit(main())
