"""Old import path, kept working: the mask generators now live in impaint.data.masks.

This name is that module itself (not a copy), so ``impaint.masks.MASKS`` and
``impaint.data.masks.MASKS`` are one object."""

import sys

from .data import masks

sys.modules[__name__] = masks
