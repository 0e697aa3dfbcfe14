"""python -m harness.report results.json: re-render a saved run's tables and charts."""

import sys

from harness.report.render import main

if __name__ == "__main__":
    sys.exit(main())
