from impaint.studies.bench_large import _large_run


def test_a_checkpoint_sets_the_configuration_timed(tiny_checkpoint):
    """`impaint bench --checkpoint`: a wider model's speed, on every row that builds a model."""
    from impaint.studies.bench import default_model, large_rows
    from tests.helpers import TINY

    assert default_model(str(tiny_checkpoint)).cfg == TINY
    assert default_model().cfg != TINY
    r = _large_run(96, "bf16", str(tiny_checkpoint))
    assert r["passes"] >= 1 and r["seconds"] > 0
    assert set(large_rows(48, str(tiny_checkpoint))) >= {"large48_PyTorch fp32",
                                                          "large48_OpenCV telea"}
