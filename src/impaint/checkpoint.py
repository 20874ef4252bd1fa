"""Old import path, kept working: checkpoints now live in impaint.model.checkpoint.

This name is that module itself (not a copy), so patching one patches the other."""

import sys

from .model import checkpoint

sys.modules[__name__] = checkpoint
