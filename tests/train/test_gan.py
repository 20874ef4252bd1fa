import torch

from impaint.model import load_model, read_checkpoint
from impaint.train.gan import Adversary, PatchDiscriminator
from impaint.train import train
from tests.helpers import tiny_config


def test_patch_discriminator_gives_a_map_of_logits():
    d = PatchDiscriminator()
    assert d(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)).shape == (2, 1, 8, 8)


def test_a_discriminator_step_learns_to_tell_real_from_flat():
    torch.manual_seed(0)
    adv = Adversary(3, "cpu", lr=2e-3)
    real = torch.rand(8, 3, 16, 16)
    fake = torch.full_like(real, 0.5)
    mask = torch.ones(8, 1, 16, 16)
    first = adv.step(real, fake, mask)
    for _ in range(30):
        last = adv.step(real, fake, mask)
    assert last < first
    with torch.no_grad():
        assert float(adv.generator_loss(fake, mask)) > float(adv.generator_loss(real, mask))


def test_adversarial_training_saves_and_resumes_the_discriminator(image_folder, tmp_path):
    cfg = tiny_config(image_folder, tmp_path / "g", steps=2)
    cfg.adv_weight = 0.01
    ckpt = train(cfg, progress=False)
    tensors, _ = read_checkpoint(ckpt)
    assert any(k.startswith("disc.") for k in tensors)
    load_model(ckpt)  # the discriminator's tensors do not disturb loading the model
    cfg.steps = 3
    assert read_checkpoint(train(cfg, resume=True, progress=False))[1]["step"] == 3
