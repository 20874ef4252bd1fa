import pytest

from impaint.studies.bench_backends import graph_rows
from tests.helpers import run_python


def test_graph_rows_time_each_installed_runtime(capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    rows = graph_rows(16, reps=1)
    assert set(rows) == {"infer_b1_onnxruntime", "infer_b64_onnxruntime",
                         "infer_b1_openvino", "infer_b64_openvino"}
    assert all(v > 0 for v in rows.values())
    assert "x PyTorch" in capsys.readouterr().out


def test_graph_rows_time_an_int8_graph_if_given(int8_graph):
    out = run_python(f"""
from impaint.studies.bench_backends import graph_rows
print(graph_rows(16, reps=1, int8={str(int8_graph[0])!r})["infer_b64_openvino_int8"])
""")  # in a child process: see the int8_graph fixture
    assert "openvino int8" in out and float(out.strip().splitlines()[-1]) > 0
