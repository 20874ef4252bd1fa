"""Pack the training sources of `general` into gpu_data/ (at most 62 MiB), for a lent GPU.

    python scripts/gpu_pack.py [--celeba ../shared/data/celeba] [--photos ../shared/data/photos]

The GPU machine receives only the checkout and up to 64 MiB of carried, git-ignored paths;
`../shared` does not travel. What fits: CelebA's full-size train faces (178×218, the ones
close-ups can be cut from) and a few hundred valid ones in the official layout, and the
photos' train and valid splits, all re-encoded as JPEG (quality 80: 59.9 MiB). On the GPU machine
`impaint crops` draws fresh random-scale crops of them (scripts/gpu_train_general.sh).
Never commit gpu_data/ (.gitignore): these are CelebA's and the photos' own images.
"""

import argparse
import io
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

LIMIT = 62 * 2 ** 20  # bytes: the carry holds 64 MiB in all


def reencode(src: Path, dst: Path, quality: int) -> int:
    """src -> dst as JPEG; -> the bytes written."""
    with Image.open(src) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=quality)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(buf.getvalue())
    return len(buf.getvalue())


def pack_celeba(root: Path, out: Path, valid: int, quality: int) -> int:
    """Full-size train faces and the first `valid` valid ones, with a partition file that
    lists only them. -> bytes written."""
    kept, total = [], 0
    lines = (root / "list_eval_partition.txt").read_text().split("\n")
    valid_left = valid
    for line in tqdm(lines, desc="celeba", mininterval=2):
        if not line.strip():
            continue
        name, split = line.split()
        src = root / "img_align_celeba" / name
        if split == "2" or (split == "1" and valid_left == 0) or not src.is_file():
            continue
        with Image.open(src) as im:
            if split == "0" and im.size != (178, 218):  # half-size copies: no close-ups
                continue
        total += reencode(src, out / "img_align_celeba" / name, quality)
        kept.append(line)
        valid_left -= split == "1"
    (out / "list_eval_partition.txt").write_text("\n".join(kept) + "\n")
    return total


def pack_photos(root: Path, out: Path, quality: int) -> int:
    total = 0
    for split in ("train", "valid"):
        for src in tqdm(sorted((root / split).iterdir()), desc=f"photos {split}",
                        mininterval=2):
            if src.suffix.lower() in (".jpg", ".jpeg", ".png"):
                total += reencode(src, out / split / (src.stem + ".jpg"), quality)
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--celeba", default="../shared/data/celeba")
    p.add_argument("--photos", default="../shared/data/photos")
    p.add_argument("--out", default="gpu_data")
    p.add_argument("--valid", type=int, default=300, help="CelebA valid faces to pack")
    p.add_argument("--quality", type=int, default=80, help="JPEG quality")
    args = p.parse_args()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):  # an earlier pack's files would travel too, uncounted
        print(f"gpu_pack: {out} is not empty: remove it first (rm -r {out})", file=sys.stderr)
        return 1
    total = pack_celeba(Path(args.celeba), out / "celeba", args.valid, args.quality)
    total += pack_photos(Path(args.photos), out / "photos", args.quality)
    print(f"{out}: {total / 2 ** 20:.1f} MiB")
    if total > LIMIT:
        print(f"gpu_pack: more than {LIMIT / 2 ** 20:.0f} MiB: lower --quality or --valid",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
