"""The network: encoder, decoders, the optional stochastic latent, and its checkpoints.

The lowest layer of the package: it imports no other impaint subpackage. Conventions that
every layer above follows:
- masks are ``1 = known``, ``0 = missing`` (a hole), shape (B, 1, H, W); images are float
  (B, C, H, W) in [0, 1]. Image *files* use white = hole, converted where they are read and
  written (inference/image_read.py, the CLI, the server);
- query coordinates are (B, N, 2) in [-1, 1]^2 as (x, y), pixel centres in the
  ``align_corners=False`` convention (that of ``F.grid_sample``);
- a checkpoint is one safetensors file with its configs as JSON metadata (checkpoint.py):
  ``load_model(path)`` rebuilds the model from the file alone.

config.py     ModelConfig               network.py    ImplicitInpainter, inpaint()
encoder.py    convolutional encoder     decoders.py   coordinate MLP, conv
latent.py     stochastic latent (cVAE)  liif.py       LIIF local-ensemble decoder
unet.py       gated-conv U-Net baseline checkpoint.py safetensors I/O, load_model
"""

import lazy_loader

# Each name imported on first use (as impaint/__init__.py does): ModelConfig, and so
# TrainConfig's defaults in `impaint train --help`, come without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "checkpoint": ["CheckpointError", "checkpoint_path", "export_model", "load_model",
                   "load_optimizer_state", "read_checkpoint", "save_checkpoint",
                   "shipped_weights_path", "with_coarse", "write_safetensors"],
    "config": ["ModelConfig"],
    "decoders": ["ConvDecoder", "Decoder", "pixel_centres"],
    "encoder": ["Encoder", "ResBlock"],
    "network": ["DECODERS", "SIGMA_MIN", "ImplicitInpainter", "build_model", "compose",
                "count_parameters", "downsample", "inpaint", "inpaint_with_std",
                "sample_completions"],
})
