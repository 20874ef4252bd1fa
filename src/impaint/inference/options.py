"""The inference options a user picks by name, in a module that imports nothing (not torch):
the CLI lists them in its help without loading the library. pyramid.py and onnx_backend.py
take them from here."""

FLIPS = (1, 2, 4, 8)  # test-time flips: how many mirror images a pass averages (`Pyramid.flips`)
# What runs the model's passes (onnx_backend.load_backend): "auto" is torch on CPUs with native
# bf16, else OpenVINO where it is installed.
BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
