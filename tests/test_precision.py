import pytest
import torch

from impaint.precision import bf16_is_fast, native_bf16, pick_device


@pytest.mark.parametrize("name", ["_is_avx512_bf16_supported", "_is_amx_tile_supported"])
def test_a_cpu_with_bf16_units_is_native(monkeypatch, name):
    for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, check, lambda c=check: c == name, raising=False)
    assert native_bf16("cpu") and native_bf16(torch.device("cpu"))


def test_a_cpu_without_them_is_not(monkeypatch):
    for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, check, lambda: False, raising=False)
    assert not native_bf16("cpu") and not bf16_is_fast("cpu")
    assert not native_bf16("meta")


def test_inference_bf16_is_cpu_only_and_fp32_can_be_asked(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.delenv("IMPAINT_FP32", raising=False)
    assert bf16_is_fast("cpu") and not bf16_is_fast("meta")
    monkeypatch.setenv("IMPAINT_FP32", "1")
    assert not bf16_is_fast("cpu") and native_bf16("cpu")


def test_a_device_this_machine_lacks_is_one_line_naming_what_it_has():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    missing = ["cuda:99"]
    missing += [] if torch.cuda.is_available() else ["cuda"]
    missing += [] if torch.backends.mps.is_available() else ["mps"]
    for name in missing:
        with pytest.raises(ValueError, match=rf"^--device {name} asked for, but this machine "
                                             r"has none \(it has: cpu"):
            pick_device(name)
    with pytest.raises(ValueError, match=r"^--device gpu is not a device: auto, cpu, cuda"):
        pick_device("gpu")


def test_load_model_on_a_missing_device_is_one_line():
    from impaint import load_model

    with pytest.raises(ValueError, match=r"^device cuda:99 asked for, but this machine has none"):
        load_model("celeba32", device="cuda:99")
