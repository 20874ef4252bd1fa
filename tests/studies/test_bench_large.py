import pytest

from impaint.studies.bench_large import LARGE_BACKENDS, _large_run


@pytest.mark.parametrize("backend", LARGE_BACKENDS)
def test_large_run_goes_through_the_pipeline(backend):
    if backend == "openvino":
        pytest.importorskip("openvino")
    r = _large_run(128, backend)  # a 64-px box: two levels, so several passes
    assert r["passes"] >= 2 and 0 < r["model_seconds"] <= r["seconds"] and r["peak_gb"] > 0


def test_the_auto_row_times_the_clis_default_averaging():
    plain, auto = _large_run(128, "bf16"), _large_run(128, "auto")  # auto: 8 flips at 128 px
    assert auto["passes"] > plain["passes"] and auto["model_mpx"] > plain["model_mpx"]
