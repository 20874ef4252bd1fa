"""The model shipped inside the package: it loads, and it still computes what it computed."""

from importlib import resources

import torch

from impaint import load_model
from impaint.data.masks import BoxMask
from impaint.model import count_parameters, inpaint, inpaint_with_std

# Pinned when the weights were shipped; a change means the weights or the model code moved.
PINNED_HOLE_MEAN = 0.4923107458170129
PINNED_HOLE_STD = 0.13220286176034993
PINNED_HOLE_SIGMA = 0.09341963838549361  # the shipped model is probabilistic: mean predicted σ


def pinned_case():
    g = torch.Generator().manual_seed(1234)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    image = torch.stack([0.3 + 0.5 * yy, 0.2 + 0.4 * xx, 0.5 * (xx + yy) / 2])[None]
    image = (image + 0.05 * torch.rand(image.shape, generator=g)).clamp(0, 1)
    mask = BoxMask(0.3)(32, 32, g)[None, None]
    return image, mask


def test_shipped_weights_load_with_the_default_budget():
    model = load_model()
    assert model.image_size == 32
    assert abs(count_parameters(model) - 4.7e5) / 4.7e5 < 0.1
    weights = resources.files("impaint") / "weights"
    assert (weights / "MODEL_CARD.md").is_file() and (weights / "training_log.csv").is_file()


def test_shipped_weights_reproduce_the_pinned_output():
    model = load_model()
    image, mask = pinned_case()
    out = inpaint(model, image, mask)
    hole = (1 - mask).bool().expand_as(image)
    assert torch.equal(out[~hole], image[~hole])
    values = out[hole].double()
    assert abs(values.mean().item() - PINNED_HOLE_MEAN) < 1e-5
    assert abs(values.std().item() - PINNED_HOLE_STD) < 1e-5


def test_shipped_model_gives_its_pinned_sigma_on_the_hole_and_none_on_known_pixels():
    model = load_model()
    image, mask = pinned_case()
    out, std = inpaint_with_std(model, image, mask)
    assert torch.equal(out, inpaint(model, image, mask))
    hole = (1 - mask).bool().expand_as(image)
    assert (std[~hole] == 0).all() and (std[hole] > 0).all()
    assert abs(std[hole].double().mean().item() - PINNED_HOLE_SIGMA) < 1e-5


def test_the_readmes_python_example_runs_as_written():
    """The README's 'From Python' block, run as it stands: its names and calls stay true."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"```python\n(import torch\n.*?)```", readme, re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    image, mask, out = scope["image"], scope["mask"], scope["out"]
    assert out.shape == image.shape and scope["sigma"].shape == image.shape
    assert torch.equal(out * mask, image * mask)  # known pixels bit-exact
