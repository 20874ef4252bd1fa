"""The ablation's variants, as data: what each asks and its config overrides.

Apart from ablate.py, so that the CLI lists them (`--only`) without importing training and
evaluation."""

# name -> (what it asks, overrides). MLP widths are chosen to keep the decoder's budget:
# 128x4 = 61.6k parameters; 207x2 = 62.5k; 87x8 = 61.8k; conv 50x2 (3x3) = 62.4k.
VARIANTS = {
    "seed": ("the seed: MLP 128x4 on x ⊕ Z(x), MSE on the hole, mixture masks", []),
    "no_coords": ("does x matter? the same MLP on Z(x) alone", ["model.use_coords=false"]),
    "mlp_wide_shallow": ("MLP 207x2, same budget", ["model.hidden=207", "model.depth=2"]),
    "mlp_narrow_deep": ("MLP 87x8, same budget", ["model.hidden=87", "model.depth=8"]),
    "liif_decoder": ("LIIF-style local decoder: the 4 nearest codes, relative offsets, local "
                     "ensemble", ["model.decoder=liif"]),
    "conv_decoder": ("plain convolutional decoder: two 3x3 convs on Z, no coordinates",
                     ["model.decoder=conv", "model.hidden=50", "model.depth=2"]),
    "unet_gated": ("the standard learned baseline: a U-Net of gated convolutions",
                   ["model.arch=unet"]),
    "adversarial": ("the seed plus a PatchGAN hinge loss (weight 0.01)", ["adv_weight=0.01"]),
    "tv_0": ("no TV term", ["beta=0"]),
    "tv_10x": ("10x the TV weight", ["beta=0.1"]),
    "mse_all": ("MSE on every pixel, not just the hole", ["mse_on=all"]),
    "masks_random": ("trained on random masks only", ["mask_families=random"]),
    "masks_box": ("trained on boxes only", ["mask_families=box"]),
    "masks_strokes": ("trained on strokes only", ["mask_families=strokes"]),
}
# The study varies the seed's own method as it was run: deterministic MSE training and one
# 88-channel width for every encoder block (the library's defaults have moved on since: a
# probabilistic decoder, and 48 channels at full resolution / 96 at half).
SEED_BASE = ["model.probabilistic=false", "model.width=88", "model.coarse_width=0"]
# Sized to finish under 2 h on 2 CPU cores: the seed variant took 8 min 20 s end to end at 900
# steps (127 img/s); scaled by each variant's CPU speed, 14 variants at 750 steps ≈ 1 h 41 min.
DEFAULT_STEPS = 750
