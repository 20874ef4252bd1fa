"""`python -m impaint ARGS` = `impaint ARGS`."""

import sys

from impaint.cli import main

sys.exit(main())
