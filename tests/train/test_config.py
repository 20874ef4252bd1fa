import math

import pytest

from impaint.train import TrainConfig, apply_overrides, check_config, lr_at


def test_overrides_and_unknown_keys():
    cfg = apply_overrides(TrainConfig(), ["beta=0.5", "model.width=16", "amp=false",
                                          "mask_families=box,random"])
    assert cfg.beta == 0.5 and cfg.model.width == 16 and cfg.amp is False
    assert cfg.mask_families == ("box", "random")
    with pytest.raises(ValueError, match="unknown config key 'gamma'"):
        apply_overrides(TrainConfig(), ["gamma=1"])
    with pytest.raises(ValueError, match="bad value 'abc' for lr"):
        apply_overrides(TrainConfig(), ["lr=abc"])


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(0.1)
    assert lr_at(cfg, 10) == pytest.approx(1.0)
    assert lr_at(cfg, 99) == pytest.approx(0.1, abs=0.01)


def test_a_short_run_warms_up_over_a_tenth_of_it_then_decays():
    cfg = TrainConfig(steps=300, warmup=300, lr=1.0, min_lr_ratio=0.1)  # the README's tiny run
    assert lr_at(cfg, 0) == pytest.approx(1 / 30) and lr_at(cfg, 29) == pytest.approx(1.0)
    assert lr_at(cfg, 299) == pytest.approx(0.1, abs=0.01)  # not still at the peak


def test_lr_follows_the_clock_under_a_time_budget():
    cfg = TrainConfig(steps=10**9, warmup=10, lr=1.0, min_lr_ratio=0.1, time_budget=60.0)
    assert lr_at(cfg, 50, elapsed=0.0) == pytest.approx(1.0)
    assert lr_at(cfg, 50, elapsed=30.0) == pytest.approx(0.55)
    assert lr_at(cfg, 50, elapsed=90.0) == pytest.approx(0.1)


def test_under_a_time_budget_the_warm_up_is_at_most_a_tenth_of_the_clock_too():
    # 10 s on a slow CPU: 168 of the default 12,000 steps, all of them still warming up.
    cfg = TrainConfig(steps=12000, warmup=300, lr=1.0, min_lr_ratio=0.1, time_budget=10.0)
    assert lr_at(cfg, 0, elapsed=0.0) == pytest.approx(1 / 300)
    assert lr_at(cfg, 10, elapsed=0.5) == pytest.approx(0.5)  # half of a tenth of 10 s
    assert lr_at(cfg, 20, elapsed=5.0) == pytest.approx(0.55)  # half-way down
    assert lr_at(cfg, 168, elapsed=10.0) == pytest.approx(0.1)
    # A generous step cap (an upper bound under a budget) keeps its 300 warm-up steps.
    fast = TrainConfig(steps=10**6, warmup=300, lr=1.0, time_budget=3600.0)
    assert lr_at(fast, 149, elapsed=7.5) == pytest.approx(0.5)


def test_no_warm_up_starts_at_the_peak():
    assert lr_at(TrainConfig(steps=100, warmup=0, lr=1.0), 0) == pytest.approx(1.0)
    assert lr_at(TrainConfig(steps=100, warmup=0, lr=1.0, time_budget=60.0), 0) == \
        pytest.approx(1.0)


def test_under_a_time_budget_the_step_cap_still_ends_the_schedule():
    # A fast GPU reached the 12,000-step default in 140 s of a 300-s budget, LR still high.
    cfg = TrainConfig(steps=110, warmup=10, lr=1.0, min_lr_ratio=0.1, time_budget=300.0)
    assert lr_at(cfg, 60, elapsed=1.0) == pytest.approx(0.55)  # half the steps: half-way
    assert lr_at(cfg, 110, elapsed=1.0) == pytest.approx(0.1)
    three_quarters = 0.1 + 0.9 * 0.5 * (1 + math.cos(0.75 * math.pi))
    assert lr_at(cfg, 60, elapsed=225.0) == pytest.approx(three_quarters)  # the clock leads


@pytest.mark.parametrize("override, message", [
    ("limit=-4", "limit must be 0 (off) or positive, got -4"),
    ("time_budget=-3", "time_budget must be 0 (off) or positive, got -3"),
    ("size=7", "size must be from 8 to 1024 px, got 7"),
    ("size=100000", "size must be from 8 to 1024 px, got 100,000"),
    ("model.width=-4", "model.width must be a positive integer, got -4"),
    ("model.latent_dim=-1", "model.latent_dim must be 0 or more, got -1"),
    ("model.strides=1,0,2", "model.dilations and model.strides must be positive integers"),
    ("valid_every=0", "valid_every must be a positive integer, got 0"),  # else a division by 0
    ("valid_images=0", "valid_images must be a positive integer, got 0"),  # after step 1
    ("model.arch=unet", "model.arch=unet (the gated U-Net baseline) has no probabilistic: add "
                        "--set model.probabilistic=false"),
    ("adv_weight=-0.5", "adv_weight must be 0 or more, got -0.5"),  # once: no adversary, silently
    ("beta=nan", "beta must be 0 or more, got nan"),  # once: "loss became nan at step 0"
    ("warmup=-10", "warmup must be 0 or more, got -10"),
    ("lr=nan", "lr must be 0 or more, got nan"),  # once: "must not be negative, got nan"
    ("min_lr_ratio=3", "min_lr_ratio is the final LR as a fraction of the peak: from 0 to 1, "
                       "got 3.0"),
    ("model.channels=1", "model.channels must be 3 (training images are RGB), got 1"),
    ("seed=10000000000000", "seed must be from 0 to 4294967295"),  # once: an overflow, later
    # once: a traceback at the first step, and a misaligned map that trained without a word
    ("model.strides=1,2,1", "model.strides must each be a multiple of the one before"),
    ("model.strides=1,2,3", "model.strides must each be a multiple of the one before"),
    ("model.strides=2,2,2", "model.strides must match model.dilations and start at 1"),
])
def test_a_config_that_cannot_train_is_refused_before_any_work(override, message):
    cfg = apply_overrides(TrainConfig(data="somewhere"), [override])
    with pytest.raises(ValueError, match=message.replace("(", "[(]").replace(")", "[)]")):
        check_config(cfg)
    check_config(TrainConfig(data="somewhere"))  # the defaults pass


def test_a_config_made_in_code_with_the_wrong_types_is_refused_in_one_line(tmp_path):
    from impaint.model import ModelConfig
    from impaint.train import train

    for kw, message in ((dict(mask_families="box"), "mask_families is a list of names, e.g. "
                                                    "('box',), got the string 'box'"),
                        (dict(steps="100"), "steps must be of type int, got str '100'"),
                        (dict(steps=True), "steps must be of type int, got bool True"),
                        (dict(lr="1e-3"), "lr must be of type int or float, got str '1e-3'"),
                        (dict(flip=1), "flip must be of type bool, got int 1"),
                        (dict(model={"width": 16}), "model must be of type ModelConfig "
                                                    "(ModelConfig(width=...); --set")):
        with pytest.raises(TypeError) as error:
            check_config(TrainConfig(data="somewhere", **kw))
        assert str(error.value).startswith(message)
        with pytest.raises(TypeError, match=message[:20]):  # the API, before cfg.out is read
            train(TrainConfig(data="somewhere", out=str(tmp_path / "run"), **kw))
    with pytest.raises(TypeError, match="the config must be a TrainConfig"):
        train({"data": "somewhere"})
    assert not (tmp_path / "run").exists()
    # Paths as Path objects, a float setting as an int, a list of families: all fine.
    check_config(TrainConfig(data=tmp_path, out=tmp_path / "run", lr=1, time_budget=60,
                             mask_families=["box"], model=ModelConfig(width=16)))
    # Lists as a checkpoint reads them back, tuples: --resume then sees the run's own.
    from impaint.train.config import normalised
    given = TrainConfig(data="x", mask_families=["box"], model=ModelConfig(strides=[1, 2, 2]))
    as_saved = normalised(given)
    assert as_saved.mask_families == ("box",) and as_saved.model.strides == (1, 2, 2)
    assert given.mask_families == ["box"]  # a copy: the caller's config is left as it was
