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


def test_adversarial_training_resumes_bit_for_bit(image_folder, tmp_path):
    """2 steps, then resumed to 4, equal 4 straight steps in every tensor: the model, its
    optimiser, the discriminator and the discriminator's Adam moments (which once restarted)."""
    import torch

    def config(out, steps):
        cfg = tiny_config(image_folder, tmp_path / out, steps=steps)
        cfg.adv_weight = 0.01
        return cfg

    straight = read_checkpoint(train(config("straight", 4), progress=False))[0]
    ckpt = train(config("resumed", 2), progress=False)
    load_model(ckpt)  # the discriminator's tensors do not disturb loading the model
    resumed = read_checkpoint(train(config("resumed", 4), resume=True, progress=False))[0]
    assert any(k.startswith("disc_optim.") for k in straight)
    assert straight.keys() == resumed.keys()
    assert not [k for k in straight if not torch.equal(straight[k], resumed[k])]
