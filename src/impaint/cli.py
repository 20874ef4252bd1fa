"""The `impaint` command: a thin layer over the library; every command is one call away.

Errors a user can cause (bad files, bad config, corrupt checkpoints) are printed as one line
on stderr with exit status 2; nothing already saved is touched.

The top layer: nothing imports it (but the `python -m` entry points). It imports the library
inside each command and builds only the arguments of the command it runs (COMMANDS), so that
`impaint --help` loads no torch and a command does not load what it does not need.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class UsageError(ValueError):
    """Bad arguments or input files, reported as one line."""


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, as the commands' own (argparse prints the whole
    usage above them; it is one --help away). Its subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"impaint: error: {message} (see {self.prog} --help)\n")


def cmd_train(args) -> None:
    from .train import TrainConfig, apply_overrides, distributed, train

    cfg = TrainConfig()
    # The settings given (`batch`, `model.width`): --resume refuses each that differs from
    # the run's, even one given at its default.
    given = {name for name in ("data", "out", "steps", "time_budget", "batch", "size", "lr",
                               "seed", "device", "limit") if getattr(args, name) is not None}
    for name in given:
        setattr(cfg, name, getattr(args, name))
    if args.fp32:
        cfg.amp = cfg.channels_last = False
        given |= {"amp", "channels_last"}
    if args.compile:
        cfg.compile = True
        given.add("compile")
    apply_overrides(cfg, args.set or [])
    given |= {item.split("=", 1)[0] for item in args.set or []}
    if args.nproc < 1:
        raise UsageError(f"--nproc must be at least 1, not {args.nproc}")
    if args.nproc > 1:
        if distributed.world_size() > 1:
            raise UsageError("--nproc starts its own processes: leave it out under torchrun")
        from .train.config import check_config
        if not args.resume:  # a resumed run's config is its own: the workers check that
            check_config(cfg, args.nproc)  # here, not in N processes that each print it
        distributed.launch(args.nproc, train, cfg, args.resume, not args.quiet, args.overwrite,
                           given)
        ckpt = Path(cfg.out) / "last.safetensors"
    else:
        ckpt = train(cfg, resume=args.resume, progress=not args.quiet, overwrite=args.overwrite,
                     given=given)
    if distributed.rank() == 0:  # under torchrun, one report
        print(f"checkpoint: {ckpt}\nlog: {Path(cfg.out) / 'log.csv'}\n"
              f"curve: {Path(cfg.out) / 'curve.png'}")


def cmd_crops(args) -> None:
    from .data.crops import build_crop_set

    counts = build_crop_set(args.out, args.size, args.celeba, args.photos, args.face_crops,
                            args.photo_crops, args.seed, args.max_zoom, args.min_side,
                            args.include, args.overwrite)
    print(f"wrote {args.out}: " + ", ".join(f"{n:,} {split}" for split, n in counts.items()) +
          f" crops of {args.size} px (train on it: impaint train --data {args.out}"
          f"{f' --size {args.size}' if args.size != 32 else ''})")


def cmd_scales(args) -> None:
    from .evaluation.images import check_native_size, check_size, scored_images
    from .model import load_model
    from .studies.scales import compare_designs

    check_native_size(args.native, args.size)
    check_size(args.size, args.native)
    given = args.checkpoint or ["shipped"]
    if len(set(given)) < len(given):
        raise UsageError("--checkpoint names the same checkpoint twice")
    if args.out:  # checked by main; made before the work, not after it
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    models = {label: load_model(None if p == "shipped" else p)
              for label, p in zip(checkpoint_labels(given), given)}
    size = 128 if args.size is None else args.size
    data, _ = scored_images("scales", args.data, "valid", size, args.folder, args.native,
                            args.limit, models)
    n, h, w = data.images.shape[0], *data.images.shape[-2:]
    shape = "at their own size" if args.native else f"at {w}×{h}"
    caption = (f"PSNR on the hole (dB) of each multi-scale design, {n} images of {args.data} "
               f"{shape}, masks of seed {args.seed}; the best of each row in bold")
    print(caption + "\n", flush=True)  # at once: the first row takes a while
    table = compare_designs(models, data.images.float() / 255, args.seed)
    if args.out:
        Path(args.out).write_text(caption + "\n\n" + table + "\n")
        print(f"wrote {args.out}")


def checkpoint_labels(given: list[str]) -> list[str]:
    """Column names for checkpoints: a shipped model's name, a file's stem, or the path
    where two files share a stem ('shipped' is load_model(None): celeba32)."""
    from .model.checkpoint import PAIRS, SHIPPED

    def name(p: str) -> str:
        p = "celeba32" if p == "shipped" else p
        shipped = (p in SHIPPED or p in PAIRS) and not Path(p).exists()
        return f"{p} (shipped)" if shipped else Path(p).stem

    stems = [name(p) for p in given]
    return [p if stems.count(s) > 1 else s for s, p in zip(stems, given)]


# What each shipped model is for (README's table), as `impaint info NAME` says it.
SHIPPED_USE = {"celeba32": "aligned 32-px faces, as CelebA's",
               "general": "photos of any size, faces in a wider frame",
               "faces": "face crops framed like CelebA's, larger than 32 px"}


def cmd_info(args) -> None:
    from .model import count_parameters, load_model
    from .model.checkpoint import paired

    model = load_model(args.checkpoint)
    state = model.checkpoint_state
    name = args.checkpoint or "celeba32"
    use = SHIPPED_USE.get(name) if not Path(name).exists() else None
    print(f"checkpoint: {name}" + (f" (shipped: {use})" if use else ""))
    if pair := paired(args.checkpoint):  # a file of that name here is that file
        fine, coarse = pair
        print(f"a pair of shipped models: {coarse} fills a pyramid's coarsest level, {fine} "
              f"every other (and every image whose holes need no pyramid); below: {fine}")
    print(f"parameters: {count_parameters(model):,}")
    best = state.get("best_valid_psnr")
    size = state.get("image_size")
    print(f"trained on {f'{size}-px images' if size else 'images of an unrecorded size'}  "
          f"step: {state.get('step')}  "
          f"best valid PSNR (hole): {'-' if best is None else f'{best:.2f} dB'}")
    print(f"model config: {state['model_config']}")


def add_backend_argument(p, renders: bool = True) -> None:
    from .inference.options import BACKENDS

    p.add_argument("--backend", default="torch", choices=BACKENDS,
                   help="what runs the model's x1 passes: torch (default), openvino (the "
                        "fastest on small images and batches; pip install "
                        "'impaint[openvino]'), onnxruntime, or auto = torch on CPUs with native "
                        "bf16, else openvino where installed; docs/speed.md" +
                        (". --scale and --samples need torch" if renders else
                         ". Outputs at x2 / x4 and samples use torch"))


FLIPS_HELP = ("test-time flips: each model pass the mean of the fills of N = 1, 2, 4 or 8 "
              "mirror images of its input, up to N times the time (levels under 128 px: only "
              "the upright two); +0.03-0.39 dB on the tables' masks. Default, with --rounds "
              "left out too: by the image's size, as much averaging as takes about 1 s on 2 cores "
              "(bf16: 8 flips and 8 rounds up to 204x204 px, 8 flips to 353x353, 4 to 500x500, "
              "2 to 707x707, one pass above; fp32, a CPU without bf16 or --fp32: a quarter of "
              "that, one pass from 354x354); docs/any-size.md")
ROUNDS_HELP = ("re-fill rounds for scattered holes (every hole within a few px of known ones): "
               "each round re-fills half the hole from the other half's fill, under the next "
               "of the --flips mirror images; the rounds are averaged, 2 passes each (default: "
               "see --flips; 0 if --flips alone is given); with --flips 8, 8 rounds lift "
               "random holes 0.00-0.37 dB more; docs/any-size.md")
FP32_HELP = ("run the model in fp32 (default: bf16 on CPUs with native bf16, 1.3-2.4x faster; "
             "every table row within 0.04 dB)")


def seed_number(text: str) -> int:
    """--seed: 0 to 2^32 - 1, refused by the parser at once (a larger one overflowed deep in
    a generator, a negative one in numpy's)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"seeds are whole numbers from 0 to {2 ** 32 - 1}, "
                                         f"not {text!r}")
    return value


def rounds_count(text: str) -> int:
    """--rounds: 0 or more, refused by the parser at once (before torch loads)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"re-fill rounds are 0 or more, not {text!r}")
    return value


def fp32_if_asked(args) -> None:
    """--fp32: the model in fp32 where it would run under bf16 (precision.bf16_is_fast)."""
    if getattr(args, "fp32", False):
        os.environ["IMPAINT_FP32"] = "1"


def cmd_inpaint(args) -> int:
    from .inference.files import inpaint_paths
    from .inference.image_original import read_original
    from .inference.image_write import output_notes

    fp32_if_asked(args)

    if Path(args.image).is_dir():
        return inpaint_batch(args)
    written = inpaint_paths(args.image, args.mask, args.output, checkpoint=args.checkpoint,
                            scale=args.scale, invert_mask=args.invert_mask,
                            progress=not args.quiet, uncertainty=args.uncertainty,
                            samples=args.samples, seed=args.seed, backend=args.backend,
                            flips=args.flips, rounds=args.rounds)
    shown = written if len(written) <= 4 else [written[0], "…", written[-1]]
    print(f"wrote {', '.join(map(str, shown))}" +
          (f" ({len(written):,} files)" if len(written) > 4 else ""))
    for note in output_notes(read_original(args.image), written[0].suffix):
        print(f"note: {note}")
    return 0


def inpaint_batch(args) -> int:
    """A folder: every pair it can, one line per failure, a summary; 1 if any pair failed."""
    from tqdm import tqdm

    from .inference.files import (averaging, check_folder_output, inpaint_folder,
                                  load_model_or_backend)

    check_folder_output(Path(args.image), Path(args.mask), args.output, args.uncertainty,
                        args.samples)  # before the model loads
    cfg = averaging(args.flips, args.rounds)  # checked before the model loads
    model = load_model_or_backend(args.checkpoint, args.backend, args.scale)
    report = inpaint_folder(
        model, Path(args.image), Path(args.mask), Path(args.output), args.scale,
        args.invert_mask, progress=not args.quiet, cfg=cfg,
        on_failure=lambda path, why: tqdm.write(failure_line(path, why), sys.stderr))
    for path in report.skipped:
        print(f"impaint: skipped: {path} (no {path.stem}.* in {args.mask})", file=sys.stderr)
    print(f"{args.output}: {report.summary()}")
    return 1 if report.failed else 0


def failure_line(path: Path, why: str) -> str:
    """A failed pair of a batch as "impaint: failed: FILE: reason", the file first whatever
    the reason's wording (a reader's names it: "not a readable image: p.png (why)")."""
    why = why.replace(f": {path}", "", 1)
    return f"impaint: failed: {path}: {why}"


def cmd_serve(args) -> None:
    import math
    import socket

    from .serve import Limits
    from .serve.server import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port (0-65535)")
    try:  # not an address at all; one this machine does not have fails as serve binds it
        socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"--host {args.host} is not an address to listen on ({e})")
    if not math.isfinite(args.max_upload_mb):  # argparse's float takes inf and nan
        raise UsageError(f"--max-upload-mb must be a finite number of MB, not "
                         f"{args.max_upload_mb}")
    limits = Limits(max_upload_mb=args.max_upload_mb, max_side=args.max_side,
                    max_render=args.max_render, workers=args.workers, queue=args.queue)
    if min(limits.max_upload_mb, limits.max_side, limits.max_render, limits.workers) <= 0 \
            or limits.queue < 0:
        raise UsageError("--max-upload-mb, --max-side, --max-render and --workers must be "
                         "positive, --queue at least 0")
    fp32_if_asked(args)
    serve(args.checkpoint, args.host, args.port, limits, args.backend)


def cmd_export(args) -> None:
    from .inference.onnx_export import export_onnx
    from .model import load_model
    from .model.checkpoint import paired

    pair = paired(args.checkpoint)
    # The graph is one network's: a pair's fine model, without the coarse one.
    alone = f" ({pair[0]} alone: {pair[1]}, paired with it, is not in the graph)" if pair else ""

    # an int8 graph took minutes (a folder for -o: main said so)
    if Path(args.output).exists() and not args.overwrite:
        raise UsageError(f"{args.output} exists: give --overwrite to replace it, or another -o")
    if args.int8 or args.calibration:
        if not (args.int8 and args.calibration):
            raise ValueError("--int8 needs --calibration DIR (images to calibrate on), and "
                             "--calibration needs --int8")
        from .inference.quantize import quantize_int8

        path, drop = quantize_int8(args.checkpoint, args.calibration, args.output)
        print(f"wrote {path} and {path.with_suffix('.bin').name}{alone}: int8, the worst "
              f"held-out row {-drop:+.3f} dB against fp32; run it with --backend openvino "
              f"--checkpoint {path}")
        return
    if Path(args.output).suffix.lower() in (".xml", ".bin"):
        raise UsageError(f"-o {args.output} names OpenVINO's int8 files (--int8 --calibration "
                         f"DIR writes them); the fp32 graph is ONNX: -o "
                         f"{Path(args.output).with_suffix('.onnx')}")
    if Path(args.output).suffix.lower() != ".onnx":
        raise UsageError(f"-o {args.output}: the graph is ONNX, name an .onnx file (-o "
                         f"{Path(args.output).with_suffix('.onnx')})")
    model = load_model(args.checkpoint)
    path = export_onnx(model, args.output)
    # The default is the 32-px face model (the bench's), not inpaint's and serve's `general`.
    which = (" from celeba32, the model for aligned 32-px faces (photos of any size: "
             "--checkpoint general)" if args.checkpoint is None else "")
    print(f"wrote {path}{which}{alone} (inputs "
          f"image, mask; outputs filled{', sigma' if model.cfg.probabilistic else ''}; see "
          "README, Export and deployment)")


def cmd_demo(args) -> None:
    from .inference.demo import run_demo, run_large_demo

    if args.large or args.image:  # a picture at its own size: the model for photos
        print(f"wrote {run_large_demo(args.out, args.checkpoint or 'general', image=args.image)}")
        return
    for path in run_demo(args.out, checkpoint=args.checkpoint):
        print(f"wrote {path}")


def cmd_bench(args) -> None:
    from .studies.bench import run_bench

    if args.int8:  # a missing or unreadable graph: its one-line error, now, not mid-bench
        from .inference.onnx_backend import open_graph
        open_graph(Path(args.int8), "openvino")
    if args.checkpoint:
        from .model import load_model
        load_model(args.checkpoint)  # a missing or corrupt file: its one-line error, now
    run_bench(quick=args.quick, int8=args.int8, checkpoint=args.checkpoint)


def cmd_evaluate(args) -> None:
    from .evaluation.evaluate import evaluate_cli

    evaluate_cli(args)


def cmd_reproduce(args) -> None:
    from .studies.reproduce import run_reproduce

    report = run_reproduce(args.data, args.out, checkpoint=args.checkpoint, split=args.split,
                           seed=args.seed, limit=args.limit or None, log_csv=args.log)
    print(f"wrote {report} (figures beside it)")


def cmd_ablate(args) -> None:
    from .evaluation.images import check_limit
    from .studies.ablate import run_ablation

    check_limit(args.limit)
    path = run_ablation(args.data, args.out, steps=args.steps, batch=args.batch,
                        only=args.only, seed=args.seed, size=args.size,
                        valid_limit=args.limit or None)
    print(path.read_text())
    print(f"wrote {path}")


def cmd_sample(args) -> None:
    import torch

    from .inference.files import MAX_SAMPLES
    from .inference.image_write import write_image
    from .model import load_model, sample_completions
    from .plots import image_grid

    if not 1 <= args.n <= MAX_SAMPLES:
        raise UsageError(f"the number of samples is from 1 to {MAX_SAMPLES:,}, got {args.n:,}")
    model = load_model(args.checkpoint)
    size = model.image_size or 32
    nothing = torch.zeros(1, 3, size, size), torch.zeros(1, 1, size, size)
    faces = sample_completions(model, *nothing, args.n, args.seed)[:, 0]  # (N, C, S, S)
    out = Path(args.out)
    digits = max(3, len(str(args.n)))  # names that sort as the draws do
    paths = [write_image(f, out / f"sample_{i + 1:0{digits}d}.png") for i, f in enumerate(faces)]
    # The figure wraps at 10 a row and shows at most 100: every draw is in its own file.
    shown = faces[:100]
    rows = [("samples" if r == 0 else "", shown[r:r + 10]) for r in range(0, len(shown), 10)]
    if len(rows) > 1 and rows[-1][1].shape[0] < 10:  # pad the last row with white
        pad = torch.ones(10 - rows[-1][1].shape[0], *shown.shape[1:])
        rows[-1] = (rows[-1][0], torch.cat([rows[-1][1], pad]))
    first = f"the first 100 of {args.n}" if args.n > 100 else f"{args.n}"
    image_grid(rows, out / "samples.png",
               title=f"{first} draws from the totally masked input (seed {args.seed})")
    print(f"wrote {len(paths)} samples and {out / 'samples.png'}")


def cmd_resolution(args) -> None:
    from .model import load_model
    from .evaluation.images import check_limit, scored_images
    from .studies.resolution import compare_resolutions, resolution_markdown

    check_limit(args.limit)
    model32 = load_model(args.checkpoint)
    model64 = load_model(args.checkpoint_64) if args.checkpoint_64 else None
    if model64 is not None and model64.image_size not in (None, 64):
        raise UsageError(f"--checkpoint-64 was trained at {model64.image_size} px, not 64")
    # as evaluate picks them: a folder's held-out tenth for a checkpoint trained on it
    models = {"the 32-px model": model32,
              **({"the 64-px model": model64} if model64 is not None else {})}
    data, _ = scored_images("resolution", args.data, args.split, 64, False, False, args.limit,
                            models)
    images = data.images / 255
    table = resolution_markdown(compare_resolutions(model32, images, model64, args.seed),
                                images.shape[0])
    print(table)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "resolution.md").write_text(table)
        print(f"wrote {Path(args.out) / 'resolution.md'}")


def installed_version() -> str:
    """The package's version, from its metadata (the package itself is above the CLI's
    layer: tests/test_layout.py), or "(not installed)" when run from a source tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("impaint")
    except PackageNotFoundError:
        return "(not installed)"


def train_arguments(p: argparse.ArgumentParser) -> None:
    from .train.config import TrainConfig  # its defaults, in the help

    p.add_argument("--data", help="CelebA root (official layout) or a folder of images (its "
                   "train/ and valid/ subfolders if it has both)")
    p.add_argument("-o", "--out", help="run folder (default runs/celeba32)")
    p.add_argument("--steps", type=int, help=f"optimizer steps (default {TrainConfig.steps}; "
                   "with --resume, the run's own)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="train for this long; the LR schedule follows the clock")
    p.add_argument("--batch", type=int, help=f"images per step (default {TrainConfig.batch})")
    p.add_argument("--size", type=int, help=f"image size in pixels (default {TrainConfig.size})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {TrainConfig.lr:g})")
    p.add_argument("--seed", type=seed_number,
                   help=f"seeds data order, masks and weights (default {TrainConfig.seed})")
    p.add_argument("--limit", type=int, help="use at most N training images (0 = all)")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--fp32", action="store_true", help="plain fp32, no bf16 / channels_last")
    p.add_argument("--compile", action="store_true", help="use torch.compile")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field, e.g. --set beta=0.05 --set model.width=64")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in OUT (without it, or --resume, training "
                        "into a folder that holds a checkpoint stops)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train in N processes on this machine (DDP); --batch is their total")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def crops_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--celeba", help="CelebA root (official layout): its train / valid splits")
    p.add_argument("--photos", help="a folder of photos (train/ and valid/ if it has them)")
    p.add_argument("-o", "--out", required=True, help="the .safetensors file to write")
    p.add_argument("--size", type=int, default=32, help="crop side after resizing (default 32)")
    p.add_argument("--face-crops", type=int, default=2, help="crops per face (default 2)")
    p.add_argument("--photo-crops", type=int, default=64, help="crops per photo (default 64)")
    p.add_argument("--max-zoom", type=float, help="crop sides at most this many times --size: "
                   "close-ups near native resolution (default: up to the whole image)")
    p.add_argument("--min-side", type=int, default=0,
                   help="skip images with a shorter side than this (px)")
    p.add_argument("--include", nargs="+", default=[], metavar="SET",
                   help="earlier crop sets (.safetensors) to mix into this one")
    p.add_argument("--overwrite", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--seed", type=seed_number, default=0, help="draws the crops (default 0)")


def inpaint_arguments(p: argparse.ArgumentParser) -> None:
    from .inference.options import FLIPS

    p.add_argument("image", help="image file, or a folder of images")
    p.add_argument("--mask", required=True, help="mask file (white = hole), or a folder")
    p.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="output file, or folder")
    p.add_argument("--checkpoint", default="general",
                   help="a checkpoint file, or a shipped model: general (the default: photos "
                        "and faces of any size), faces, celeba32 (aligned 32-px faces)")
    p.add_argument("--scale", type=int, default=1,
                   help="output at K x the input resolution: the hole rendered by the "
                        "decoder, each known pixel a K x K block (at most 4.2 Mpx in, 67 Mpx "
                        "out)")
    p.add_argument("--invert-mask", action="store_true", help="mask files use white = known")
    p.add_argument("--samples", type=int, default=0, metavar="K",
                   help="stochastic checkpoints: write K different completions (OUT_1 … OUT_K); "
                        "images of at most 1 Mpx (a sample is decoded whole, not in tiles)")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the --samples draws")
    p.add_argument("--uncertainty", metavar="PATH",
                   help="probabilistic checkpoints: write the σ map as a picture at PATH "
                        "(sigma.png) and its raw values beside it (sigma.npy)")
    add_backend_argument(p)
    p.add_argument("--flips", type=int, choices=FLIPS, metavar="N",
                   help=FLIPS_HELP)
    p.add_argument("--rounds", type=rounds_count, metavar="R", help=ROUNDS_HELP)
    p.add_argument("--fp32", action="store_true", help=FP32_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="a checkpoint file, or a shipped model: celeba32 (the "
                   "default: aligned 32-px faces, the bench's), general (photos of any size)")
    p.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="the .onnx file to write (.xml with --int8)")
    p.add_argument("--int8", action="store_true",
                   help="write an int8 OpenVINO graph instead, calibrated on --calibration "
                        "(the [int8] extra; minutes): faster at 32 px, within 0.05 dB")
    p.add_argument("--overwrite", action="store_true", help="replace the -o file if it exists")
    p.add_argument("--calibration", metavar="DIR",
                   help="images to calibrate --int8 on: a CelebA root (its train split) or any "
                        "folder, at least 48 images (its first 1,024: two thirds calibrate, a "
                        "third checks the PSNR)")


def serve_arguments(p: argparse.ArgumentParser) -> None:
    from .serve import Limits

    p.add_argument("--checkpoint", default="general",
                   help="a checkpoint file, or a shipped model: general (the default), faces, "
                        "celeba32")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    p.add_argument("--max-upload-mb", type=float, default=Limits.max_upload_mb,
                   help="largest request (image + mask; default %(default)g); more is 413")
    p.add_argument("--max-side", type=int, default=Limits.max_side,
                   help="largest side in pixels of the input (default %(default)s); more is 413")
    p.add_argument("--max-render", type=int, default=Limits.max_render,
                   help="largest side in pixels of an output rendered at x2 or x4 (default "
                        "%(default)s); more is 413")
    p.add_argument("--workers", type=int, default=Limits.workers,
                   help="inferences at once (default %(default)s)")
    p.add_argument("--queue", type=int, default=Limits.queue,
                   help="requests waiting for a worker (default %(default)s); more are 503")
    add_backend_argument(p, renders=False)
    p.add_argument("--fp32", action="store_true", help=FP32_HELP)


def sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("n", type=int, help="how many")
    p.add_argument("--checkpoint", help="a checkpoint with a stochastic latent (the shipped "
                                        "models have none: see README, Your own image)")
    p.add_argument("-o", "--out", default="impaint-samples", help="output folder")
    p.add_argument("--seed", type=seed_number, default=0, help="draws the samples (default 0)")


def resolution_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="CelebA root (official layout) or a folder")
    p.add_argument("--checkpoint", help="the 32-px model (default: celeba32)")
    p.add_argument("--checkpoint-64", help="a model trained at 64 px, if you have one")
    p.add_argument("--split", default="valid", choices=["valid", "test"])
    p.add_argument("--limit", type=int, default=500, help="images (default 500; 0 = all)")
    p.add_argument("--seed", type=seed_number, default=0, help="draws the masks (default 0)")
    p.add_argument("-o", "--out", help="also write OUT/resolution.md")


def scales_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="CelebA root (its valid split) or a folder")
    p.add_argument("--folder", action="store_true", help="read --data as a plain folder")
    p.add_argument("--size", type=int, help="images resized to this (default 128)")
    p.add_argument("--native", action="store_true", help="the images at their own size")
    p.add_argument("--limit", type=int, default=32, help="images (default 32; 0 = all)")
    p.add_argument("--checkpoint", nargs="+",
                   help="checkpoint files or shipped models (default: celeba32)")
    p.add_argument("--seed", type=seed_number, default=0, help="draws the masks (default 0)")
    p.add_argument("-o", "--out", help="also write the Markdown table here")


def info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?",
                   help="a checkpoint file, or a shipped model (default: celeba32)")


def demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", default="impaint-demo", help="output folder")
    p.add_argument("--image", help="your own picture, at its own size (as --large), instead "
                                   "of the bundled faces (Telea, slow on large pictures, runs "
                                   "on a copy at most 640 px a side)")
    p.add_argument("--large", action="store_true",
                   help="large pictures at their own size (astronaut, coffee) instead")
    p.add_argument("--checkpoint", help="a checkpoint file, or a shipped model (default: "
                                        "celeba32, general with --large or --image)")


def bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--int8", metavar="GRAPH.xml",
                   help="also time this int8 graph (impaint export --int8) at 32 px")
    p.add_argument("--checkpoint", help="time this model's configuration (a file, or a shipped "
                   "name) instead of the default one: a wider model, say")


def reproduce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="CelebA root (official layout) or a folder")
    p.add_argument("-o", "--out", required=True, help="output folder (REPORT.md + figures)")
    p.add_argument("--checkpoint", help="model checkpoint (default: celeba32, the shipped "
                   "model for the original method's 32-px faces)")
    p.add_argument("--log", help="training log.csv for the curve (default: beside the model)")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"],
                   help="CelebA split (default valid; a plain folder is read whole)")
    p.add_argument("--limit", type=int, default=500,
                   help="images of the split to use (default 500; 0 = all)")
    p.add_argument("--seed", type=seed_number, default=0, help="picks the 8 images and the masks")


def ablate_arguments(p: argparse.ArgumentParser) -> None:
    from .studies.variants import DEFAULT_STEPS, VARIANTS

    p.add_argument("--data", required=True, help="CelebA root (official layout) or a folder")
    p.add_argument("-o", "--out", required=True,
                   help="study folder (one sub-folder per variant)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                   help=f"training steps per variant (default {DEFAULT_STEPS})")
    p.add_argument("--batch", type=int, default=64, help="images per step (default 64)")
    p.add_argument("--size", type=int, default=32, help="image size in px (default 32)")
    p.add_argument("--seed", type=seed_number, default=0,
                   help="training seed, and the masks' (default 0)")
    p.add_argument("--limit", type=int, default=500,
                   help="valid images to evaluate on (default 500; 0 = all)")
    p.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run these variants only")


# data.masks.TABLE_MASKS's families, named here without importing it (torch) for the help;
# tests/test_cli.py checks that they agree.
TABLE_FAMILIES = ("random", "box", "strokes", "full")


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    from .evaluation.baselines import BASELINES  # numpy only
    from .inference.options import FLIPS

    p.add_argument("--data", required=True,
                   help="CelebA root (official layout) or a folder of images (its --split "
                        "subfolder if it has train/ and valid/ ones)")
    p.add_argument("--folder", action="store_true",
                   help="read --data as a plain image folder even if it has a partition file")
    p.add_argument("--split", default="valid", choices=("valid", "test"),
                   help="CelebA's split, or a folder's subfolder")
    p.add_argument("--checkpoint", nargs="+", action="extend", default=[], metavar="CKPT",
                   help="model checkpoints, each named impaint:<file stem> "
                        "(default: the shipped celeba32, named impaint)")
    p.add_argument("--methods", nargs="+", action="extend", metavar="NAME",
                   help=f"methods to run (default: all): {', '.join(BASELINES)}, impaint:<stem>")
    p.add_argument("--families", nargs="+", action="extend", metavar="NAME",
                   help=f"mask families (default: all): {', '.join(TABLE_FAMILIES)}")
    p.add_argument("--limit", type=int, help="evaluate the first N images only (0 = all)")
    p.add_argument("--size", type=int, help="image size (default: the checkpoints' size, or 32)")
    p.add_argument("--native", action="store_true",
                   help="the images at their own size, uncropped (they must share one size: "
                        "CelebA's are 178x218)")
    p.add_argument("--seed", type=seed_number, default=0, help="mask seed (default 0)")
    p.add_argument("--batch", type=int, default=32, help="images per model batch (default 32)")
    p.add_argument("--device", default="cpu",
                   help="device for the models: cpu (default, so that tables compare across "
                        "machines), cuda or auto")
    p.add_argument("--bf16", action="store_true",
                   help="run the models under bf16 autocast (off: the tables are fp32, the "
                        "same on every CPU, where inpaint and serve use bf16 if it is native)")
    p.add_argument("--backend", choices=("onnxruntime", "openvino"),
                   help="also score each checkpoint through this backend's exported graph, in "
                        "its own precision (OpenVINO: bf16 on CPUs with native bf16), beside "
                        "PyTorch, as impaint:<stem> [<backend>]")
    p.add_argument("--flips", type=int, choices=FLIPS, metavar="N",
                   help="also score each checkpoint with N test-time flips (2, 4 or 8 mirror "
                        "images averaged, the upright 2 under 128 px; up to N times slower), "
                        "as <name> [N flips]")
    p.add_argument("--rounds", type=rounds_count, default=0, metavar="R",
                   help="also score each checkpoint with R re-fill rounds on scattered holes "
                        "(each half of the hole re-filled from the other's fill, averaged; 2 "
                        "passes a round; with --flips, one column with both), as "
                        "<name> [R rounds]")
    p.add_argument("--grid-images", type=int, default=6, help="images per grid (default 6)")
    p.add_argument("--save-masks", action="store_true",
                   help="also write OUT/masks/<family>_<label>/<index>.png, white = hole")
    p.add_argument("-o", "--out", default="impaint-eval",
                   help="output folder (default impaint-eval)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--samples", type=int, default=0, metavar="K",
                   help="stochastic checkpoints: diversity / fidelity of K samples per image")
    p.add_argument("--loglik", action="store_true",
                   help="probabilistic checkpoints: neural-process log-likelihood (loglik.py)")


# Every command: its one-line help, what adds its arguments, what runs it (main builds only
# the arguments of the command it runs: their defaults load the library, torch and all).
COMMANDS = {
    "train": ("train a model (CelebA root or any image folder)", train_arguments, cmd_train),
    "crops": ("random-scale crops of faces and photos, for training a model for images of any "
              "size", crops_arguments, cmd_crops),
    "inpaint": ("fill the holes of an image (or a folder of images)", inpaint_arguments,
                cmd_inpaint),
    "export": ("write the model as an ONNX graph (needs the [onnx] extra)", export_arguments,
               cmd_export),
    "serve": ("a local web page: paint over what should go, inpaint it", serve_arguments,
              cmd_serve),
    "sample": ("draw faces from nothing (stochastic checkpoints)", sample_arguments, cmd_sample),
    "resolution": ("32-px model rendered at 64 px vs. bicubic vs. 64-px model",
                   resolution_arguments, cmd_resolution),
    "scales": ("compare multi-scale designs on large images (PSNR on the hole, next to the best "
               "classical method)", scales_arguments, cmd_scales),
    "info": ("describe a checkpoint", info_arguments, cmd_info),
    "demo": ("inpaint sample faces with every mask family", demo_arguments, cmd_demo),
    "bench": ("measure training and inference speed on this machine", bench_arguments, cmd_bench),
    "reproduce": ("regenerate the seed's experiments into a report", reproduce_arguments,
                  cmd_reproduce),
    "ablate": ("train and evaluate every design variant", ablate_arguments, cmd_ablate),
    "evaluate": ("compare checkpoints and classical baselines", evaluate_arguments, cmd_evaluate),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser: every command with its arguments, or only `command`'s arguments (the
    others listed by name and help; "" none), which is how main keeps `impaint --help` quick."""
    p = Parser(prog="impaint", description="Implicit image inpainting.")
    p.add_argument("--version", action="version", version=f"impaint {installed_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (summary, add_arguments, run) in COMMANDS.items():
        q = sub.add_parser(name, help=summary)
        if command in (None, name):
            add_arguments(q)
        q.set_defaults(func=run)
    return p


def one_line(error: Exception) -> str:
    """An error as the line main prints: the OS's own (a path under a file, a full disk, no
    permission) as "reason: path", without Python's "[Errno N]"."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error)


# What a Ctrl-C leaves, said only by the commands that keep something to go on from.
INTERRUPTED = {"train": " (checkpoints already written are intact)",
               "inpaint": " (each image already written is whole: none is half-written)",
               "ablate": " (finished variants are kept: the same command goes on from them)"}


# What each command writes (its argument, a "file" or a "folder"), checked before its work
# (outputs.check_output): one line at once, the same in every command, not the OS's "File
# exists" after it. `inpaint` checks its own (a file or a folder, as its input).
OUTPUTS = {"train": ("out", "folder", "--out"), "crops": ("out", "file"),
           "export": ("output", "file"),
           "sample": ("out", "folder"), "resolution": ("out", "folder"),
           "scales": ("out", "file"), "demo": ("out", "folder"), "reproduce": ("out", "folder"),
           "ablate": ("out", "folder"), "evaluate": ("out", "folder")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Only the command asked for is built: `impaint`, `impaint --help`, `--version` and a
    # mistyped command answer at once, without loading torch (~2 s).
    command = argv[0] if argv and argv[0] in COMMANDS else ""
    args = build_parser(command).parse_args(argv)
    if getattr(args, "quiet", False):  # the data decoding's bars too (data.decoded.quiet)
        os.environ["IMPAINT_QUIET"] = "1"
    from .notes import printed
    from .outputs import check_output
    from .train import TrainingError, TrainingStopped

    try:
        if command in OUTPUTS and getattr(args, OUTPUTS[command][0]) is not None:
            check_output(getattr(args, OUTPUTS[command][0]), *OUTPUTS[command][1:])
        with printed():  # the library's notes on the input: one line each on stderr
            code = args.func(args)
    # ValueError covers the library's own input errors (data.DataError, model.CheckpointError,
    # inference.InputError, ...), which derive from it.
    except (UsageError, TrainingError, ValueError, OSError) as e:
        print(f"impaint: error: {one_line(e)}", file=sys.stderr)
        return 2
    except TrainingStopped as e:  # a training run saved where it stopped
        print(f"impaint: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C in training, or one anywhere else
        print(f"impaint: interrupted{INTERRUPTED.get(command, '')}", file=sys.stderr)
        return 130
    return code or 0  # a batch with failed pairs returns 1


if __name__ == "__main__":
    sys.exit(main())
