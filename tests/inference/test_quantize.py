import json
from pathlib import Path

import pytest

from impaint.cli import main
from impaint.inference.onnx_backend import BackendError, load_backend
from impaint.inference.quantize import MAX_DROP
from tests.helpers import make_images, run_python

pytest.importorskip("openvino", reason="OpenVINO is not installed (the [int8] extra)")
pytest.importorskip("nncf", reason="NNCF is not installed (the [int8] extra)")


def test_an_int8_graph_keeps_known_pixels_and_stays_near_fp32(int8_graph):
    path, checkpoint, printed = int8_graph
    assert path.is_file() and path.with_suffix(".bin").is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.bin", "m.xml"]  # no temporary
    drop = float(printed.split("held-out row ")[1].split(" dB")[0])
    assert -MAX_DROP - 1e-6 <= drop <= 0.05  # accuracy control: the worst held-out row
    # In a child process: see the int8_graph fixture.
    out = run_python(f"""
import json, torch
from impaint.inference.onnx_backend import load_backend
from impaint.model import inpaint_with_std, load_model
g = torch.Generator().manual_seed(1)
image = torch.rand(2, 3, 32, 40, generator=g)
mask = (torch.rand(2, 1, 32, 40, generator=g) > 0.5).float()
out, _ = load_backend("openvino", {str(path)!r})(image, mask)
known = mask.bool().expand_as(image)
ref, _ = inpaint_with_std(load_model({str(checkpoint)!r}), image, mask)
print(json.dumps({{"known_exact": torch.equal(out[known], image[known]),
                  "hole_error": float((out - ref)[~known].abs().mean())}}))
""")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["known_exact"] and result["hole_error"] < 0.02


def test_a_graph_file_runs_only_in_openvino(tmp_path):
    with pytest.raises(BackendError, match="run it with --backend openvino"):
        load_backend("torch", tmp_path / "m.xml")
    with pytest.raises(BackendError, match="no such graph"):
        load_backend("openvino", tmp_path / "m.xml")


@pytest.mark.parametrize("extra,message", [
    (["--int8"], "--int8 needs --calibration DIR"),
    (["--int8", "--calibration", "FEW"], "int8 calibration needs at least 48"),
])
def test_export_int8_errors_are_one_line(tmp_path, tiny_checkpoint, capsys, extra, message):
    make_images(tmp_path / "few", 10, size=(32, 32))
    extra = [str(tmp_path / "few") if a == "FEW" else a for a in extra]
    code = main(["export", "--checkpoint", str(tiny_checkpoint), "-o", str(tmp_path / "o.xml"),
                 *extra])
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("impaint: error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0]  # (after a progress bar)
    assert not (tmp_path / "o.xml").exists()


def test_accuracy_control_ranks_layers_on_a_subset_of_the_rows(tmp_path, tiny_checkpoint):
    """Where the first int8 graph misses `max_drop` (0 here), NNCF ranks the layers on a
    subset of the validation rows: each is compared with its own fp32 row (60 images: 3 of
    the 11 rows; comparing with all 11 failed, with a numpy broadcasting error)."""
    make_images(tmp_path / "cal", 60, size=(32, 32))
    out = run_python(f"""
from impaint.inference.quantize import quantize_int8
path, drop = quantize_int8({str(tiny_checkpoint)!r}, {str(tmp_path / "cal")!r},
                           {str(tmp_path / "g" / "m.xml")!r}, max_drop=0.0)
print("DROP", drop)
""", IMPAINT_CACHE=str(tmp_path / "cache"))
    assert "Calculating ranking scores" in out  # the subset was taken
    assert abs(float(out.split("DROP ")[1].split()[0])) < 0.5
    assert (tmp_path / "g" / "m.xml").is_file()


def test_a_pair_is_quantized_as_its_fine_model(tmp_path):
    """`faces` is `general` with `celeba32` at a pyramid's coarsest level: its int8 graph is
    general's alone, as its fp32 one is (the export looked for a checkpoint file 'faces',
    and refused the name that its own error listed)."""
    make_images(tmp_path / "cal", 48, size=(32, 32))
    out = run_python(f"""
import impaint.inference.quantize as quantize
asked = []
def export(checkpoint):  # where quantizing starts, after the checks and the images
    asked.append(checkpoint)
    raise RuntimeError("stop")
quantize.cached_export = export
try:
    quantize.quantize_int8("faces", {str(tmp_path / "cal")!r}, {str(tmp_path / "f.xml")!r})
except RuntimeError as e:
    print("ASKED", asked, e)
""", IMPAINT_CACHE=str(tmp_path / "cache"))
    assert "ASKED ['general'] stop" in out


def test_export_int8_of_a_pair_says_which_network_it_holds(tmp_path, monkeypatch, capsys):
    def quantized(checkpoint, calibration, out):  # the minutes of NNCF, not under test here
        return Path(out), 0.01

    monkeypatch.setattr("impaint.inference.quantize.quantize_int8", quantized)
    code = main(["export", "--int8", "--calibration", str(tmp_path), "--checkpoint", "faces",
                 "-o", str(tmp_path / "f.xml")])
    assert code == 0
    assert "f.bin (general alone: celeba32, paired with it, is not in the graph): int8" in \
        capsys.readouterr().out
