"""impaint: implicit image inpainting. Mask convention: 1 = known pixel, 0 = missing."""

from .checkpoint import load_model, save_checkpoint
from .masks import MASKS, make_mask
from .model import ImplicitInpainter, ModelConfig, compose, inpaint

__all__ = ["ImplicitInpainter", "ModelConfig", "MASKS", "compose", "inpaint", "load_model",
           "make_mask", "save_checkpoint"]
__version__ = "0.1.0"
