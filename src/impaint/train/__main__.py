"""`python -m impaint.train ARGS` = `impaint train ARGS`, for torchrun:
`torchrun --nproc_per_node=N -m impaint.train --data D --out O`. An entry point, like
impaint/__main__.py: the one place below the CLI that may call it."""

import sys

from impaint.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
