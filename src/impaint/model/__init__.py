"""The network: encoder, decoders, the optional stochastic latent, and its checkpoints.

The lowest layer of the package: it imports no other impaint subpackage. Conventions that
every layer above follows:
- masks are ``1 = known``, ``0 = missing`` (a hole), shape (B, 1, H, W); images are float
  (B, C, H, W) in [0, 1]. Image *files* use white = hole; only inference/files.py converts;
- query coordinates are (B, N, 2) in [-1, 1]^2 as (x, y), pixel centres in the
  ``align_corners=False`` convention (that of ``F.grid_sample``);
- a checkpoint is one safetensors file with its configs as JSON metadata (checkpoint.py):
  ``load_model(path)`` rebuilds the model from the file alone.

config.py     ModelConfig               network.py   encoder, ImplicitInpainter, inpaint()
decoders.py   coordinate MLP, conv      liif.py      LIIF local-ensemble decoder
latent.py     stochastic latent (cVAE)  unet.py      gated-conv U-Net baseline
checkpoint.py safetensors I/O, load_model
"""

from .checkpoint import (CheckpointError, checkpoint_path, export_model, load_model,
                         load_optimizer_state, read_checkpoint, save_checkpoint,
                         shipped_weights_path, with_coarse, write_safetensors)
from .config import ModelConfig
from .decoders import ConvDecoder, Decoder, pixel_centres
from .network import (DECODERS, SIGMA_MIN, Encoder, ImplicitInpainter, ResBlock, build_model,
                      compose, count_parameters, downsample, inpaint, inpaint_with_std,
                      sample_completions)

__all__ = ["DECODERS", "SIGMA_MIN", "CheckpointError", "ConvDecoder", "Decoder", "Encoder",
           "ImplicitInpainter", "ModelConfig", "ResBlock", "build_model", "compose",
           "count_parameters", "downsample", "export_model", "inpaint", "inpaint_with_std",
           "load_model", "load_optimizer_state", "pixel_centres", "read_checkpoint",
           "sample_completions", "save_checkpoint", "shipped_weights_path", "write_safetensors",
           "checkpoint_path", "with_coarse"]
