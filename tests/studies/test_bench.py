import pytest

from impaint.studies.bench import LARGE_BACKENDS, _large_run, graph_rows, process_rates
from tests.helpers import run_python


def test_process_rates_runs_one_thread_workers_side_by_side():
    rates = process_rates("infer", 16, 2, seconds=0.3)
    assert len(rates) == 2 and all(r > 0 for r in rates)


def test_graph_rows_time_each_installed_runtime(capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    rows = graph_rows(16, reps=1)
    assert set(rows) == {"infer_b1_onnxruntime", "infer_b64_onnxruntime",
                         "infer_b1_openvino", "infer_b64_openvino"}
    assert all(v > 0 for v in rows.values())
    assert "x PyTorch" in capsys.readouterr().out


@pytest.mark.parametrize("backend", LARGE_BACKENDS)
def test_large_run_goes_through_the_pipeline(backend):
    if backend == "openvino":
        pytest.importorskip("openvino")
    r = _large_run(128, backend)  # a 64-px box: two levels, so several passes
    assert r["passes"] >= 2 and 0 < r["model_seconds"] <= r["seconds"] and r["peak_gb"] > 0


def test_the_auto_row_times_the_clis_default_averaging():
    plain, auto = _large_run(128, "bf16"), _large_run(128, "auto")  # auto: 8 flips at 128 px
    assert auto["passes"] > plain["passes"] and auto["model_mpx"] > plain["model_mpx"]


def test_graph_rows_time_an_int8_graph_if_given(int8_graph):
    out = run_python(f"""
from impaint.studies.bench import graph_rows
print(graph_rows(16, reps=1, int8={str(int8_graph[0])!r})["infer_b64_openvino_int8"])
""")  # in a child process: see the int8_graph fixture
    assert "openvino int8" in out and float(out.strip().splitlines()[-1]) > 0


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
