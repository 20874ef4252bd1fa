"""The package's layers (impaint/__init__.py): every module imports on its own, no import
circles, and no module imports a layer above its own."""

import ast
import subprocess
import sys
from pathlib import Path

import impaint

ROOT = Path(impaint.__file__).parent
# Lowest first: a module may import its own layer and the layers below.
LAYERS = ["plots", "model", "data", "train", "inference", "serve", "evaluation", "studies",
          "cli"]
# Modules that import no impaint module: any layer may use them, they cannot close a circle.
LEAVES = {"impaint.plots", "impaint.progress", "impaint.precision", "impaint.notes",
          "impaint.outputs", "impaint.evaluation.metrics", "impaint.evaluation.baselines"}
# Above every layer: the package itself, entry points, and the old paths kept working.
FACES = {"impaint", "impaint.__main__", "impaint.train.__main__", "impaint.masks",
         "impaint.checkpoint"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imported(name: str) -> set[str]:
    """The impaint modules `name` imports anywhere in its text (in functions too)."""
    package = name if is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import impaint.x.name` of a non-module
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def edges(name: str) -> set[str]:
    """What importing `name` runs: the modules it imports and their packages' __init__, less
    its own packages (already being imported when it runs)."""
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    out = set()
    for target in imported(name):
        parts = target.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return out - own - {name}


def layer(name: str) -> int:
    if name in FACES:
        return len(LAYERS)
    top = name.split(".")[1]
    assert top in LAYERS, f"{name}: add its package {top!r} to LAYERS in {__file__}"
    return LAYERS.index(top)


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # One interpreter, which forgets every impaint module before importing the next: each is
    # imported first, as a user's `import` would (torch stays loaded, to keep this quick).
    names = [n for n in MODULES if not n.endswith("__main__")]
    script = ("import importlib, sys, traceback\nbad = []\n"
              f"for name in {names!r}:\n"
              "    for m in [m for m in sys.modules if m.split('.')[0] == 'impaint']:\n"
              "        del sys.modules[m]\n"
              "    try:\n        importlib.import_module(name)\n"
              "    except Exception:\n"
              "        bad.append(name + ': ' + traceback.format_exc().splitlines()[-1])\n"
              "print('\\n'.join(bad))\nsys.exit(1 if bad else 0)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_import_circles():
    graph = {name: edges(name) for name in MODULES}
    state: dict[str, str] = {}

    def visit(name, path):
        state[name] = "open"
        for nxt in sorted(graph[name]):
            assert state.get(nxt) != "open", "import circle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [name])


def test_lower_layers_never_import_higher_ones():
    wrong = [f"{a} (layer {LAYERS[layer(a)] if layer(a) < len(LAYERS) else 'top'}) imports {b}"
             for a in MODULES for b in imported(a)
             if b not in LEAVES and layer(b) > layer(a)]
    assert not wrong, "\n".join(wrong)
    assert not [leaf for leaf in LEAVES if imported(leaf)], "a leaf imports impaint"
    # Nothing imports the CLI but the entry points.
    assert [a for a in MODULES if "impaint.cli" in imported(a)] == \
        ["impaint.__main__", "impaint.train.__main__"]


def test_the_documented_import_paths_keep_working():
    import impaint.checkpoint
    import impaint.data.masks
    import impaint.masks
    import impaint.model.checkpoint
    from impaint import (MASKS, ImpaintWarning, ImplicitInpainter, ModelConfig,  # noqa: F401
                         compose, inpaint, inpaint_with_std, load_model, make_mask,
                         save_checkpoint)
    from impaint.data import DataError, ImageFolder, open_dataset  # noqa: F401
    from impaint.model import (build_model, count_parameters, downsample,  # noqa: F401
                               sample_completions)
    from impaint.train import TrainConfig, TrainingError, apply_overrides, train  # noqa: F401

    assert impaint.masks is impaint.data.masks  # the old path is the module, not a copy
    assert impaint.checkpoint is impaint.model.checkpoint
    assert callable(impaint.inpaint)  # the function, not a module of that name


def test_python_m_impaint_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "impaint", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "train" in done.stdout
