"""One image tensor through the pipeline as a user gives it (inference/fill.py). The checks of
a pair and of --scale, through `impaint inpaint`: test_files.py."""

import torch


def test_the_passing_bar_of_one_image_stays_off_a_log(capsys):
    """The per-image bar (shown after 1 s, gone when done) leaves nothing in a pipe or log,
    where it could not be erased: here 2 passes of 0.7 s each, stderr not a terminal."""
    import time

    from impaint.inference.fill import inpaint_image

    class Slow:  # a single-scale backend's contract, slowly
        probabilistic, name = False, "slow"

        def __call__(self, image, mask):
            time.sleep(0.7)
            return torch.where(mask.bool(), image, 0.5), None

    image, mask = torch.rand(3, 64, 64), torch.ones(1, 64, 64)
    mask[:, 8:56, 8:56] = 0  # beyond reach: a pyramid of 2 passes (1.4 s)
    out = inpaint_image(Slow(), image, mask, progress=True)
    assert torch.equal(out[mask.bool().expand_as(out)], image[mask.bool().expand_as(image)])
    assert capsys.readouterr().err == ""
