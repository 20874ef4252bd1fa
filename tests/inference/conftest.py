"""Fixtures the pipeline's test files share (test_pipeline, test_refine, test_averaged,
test_pyramid)."""

import pytest
import torch

from tests.helpers import TINY
from impaint.model import ImplicitInpainter


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ImplicitInpainter(TINY.__class__(**{**TINY.to_dict(), "probabilistic": True})).eval()
