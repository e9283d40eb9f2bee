"""Saliency maps for a folder of images: ``python -m saliency_utils predict``.

    python -m saliency_utils predict --images photos/ --out maps/ [--checkpoint model.pt]

For every image file directly in ``--images`` (extensions in :data:`IMAGE_EXTENSIONS`, any
case; hidden files and other files are ignored) one 8-bit grey PNG is written to ``--out`` with
the same base name (``photo.jpg`` -> ``photo.png``) and the same width and height as the image.
Grey, palette, 16-bit, CMYK and RGBA images are converted to RGB first (alpha is dropped; EXIF
orientation is not applied, so the map is aligned with the stored pixels). Each image is
resized to the network's input size for its aspect ratio
(:meth:`~saliency_utils.saliency_model.SaliencyModel.input_shape_for`); the predicted
density (averaged over the image and its mirror image, raised to
:data:`~saliency_utils.saliency_model.MAP_EXPONENT`,
:meth:`~saliency_utils.saliency_model.SaliencyModel.predict`) is resized back with
:func:`saliency_utils.maps.resize_map`. PNG values are the density
divided by its maximum, times 255, rounded: 255 at the most salient pixel; a map is a ranking
within its image, not comparable across images.

Files that cannot be read (or fail for any other reason) are reported on stderr and skipped; the
others are still written. If two inputs share a base name (``a.jpg``, ``a.png``), the first in
sorted order gets ``a.png`` and the next ones their full name plus ``.png`` (``a.png.png``), with
a note. Exit status: 0 when every image was written, 1 when some failed (the rest were written),
2 when nothing could be done (missing folder, ``--out`` equal to ``--images``, unreadable
checkpoint).

The model is ``--checkpoint`` (a file written by :func:`saliency_utils.training.save_checkpoint`)
or, by default, the ``offline`` preset of :mod:`saliency_utils.training` from the checkpoint
cache, trained on first use (that takes minutes and says so). A GPU is used when present.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "PredictReport", "read_image", "to_png_array",
           "list_images", "predict_folder", "main"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                    ".ppm", ".pgm", ".pnm")


@dataclass
class PredictReport:
    """What :func:`predict_folder` did: ``written`` (output paths), ``failed`` (input path,
    reason) and ``renamed`` (input path, output path) for base-name clashes."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    renamed: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def read_image(path: str | Path) -> np.ndarray:
    """Any image PIL reads -> ``uint8 H x W x 3`` RGB (first frame of animations). 16-bit and
    float grey images are scaled by their maximum; alpha is dropped."""
    with Image.open(path) as im:
        im.load()  # decode now: truncated or corrupt files fail here
        if im.mode in ("I", "F") or im.mode.startswith("I;"):
            a = np.asarray(im, dtype=np.float64)
            top = a.max() if a.size and a.max() > 0 else 1.0
            a = np.clip(np.rint(np.clip(a, 0, None) / top * 255), 0, 255).astype(np.uint8)
            return np.repeat(a[..., None], 3, axis=2)
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if arr.ndim != 3 or min(arr.shape[:2]) < 1:
        raise ValueError(f"not a 2-D image (array shape {arr.shape})")
    return arr


def to_png_array(density: np.ndarray) -> np.ndarray:
    """A non-negative map -> ``uint8``, its maximum at 255 (all zero stays zero)."""
    d = np.asarray(density, dtype=np.float64)
    top = d.max()
    if not np.isfinite(top) or top <= 0:
        return np.zeros(d.shape, np.uint8)
    return np.clip(np.rint(d / top * 255.0), 0, 255).astype(np.uint8)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by extension), sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def _default_model():
    from . import training

    return training.load_or_train("offline", progress=True)


def predict_folder(images: str | Path, out: str | Path, model=None,
                   checkpoint: str | Path | None = None, progress: bool = True,
                   log: Callable[[str], None] | None = None) -> PredictReport:
    """Write one saliency PNG per image of ``images`` into ``out`` (see the module docstring).

    ``model``: a :class:`~saliency_utils.saliency_model.SaliencyModel`; else ``checkpoint``;
    else the offline preset (trained on first use). Never raises for a bad image: failures are
    logged (``log``, default stderr) and listed in the returned :class:`PredictReport`.
    """
    from tqdm.auto import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr))
    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder not found: {images}")
    if out.exists() and out.resolve() == images.resolve():
        raise ValueError("--out must differ from --images (outputs would overwrite PNG inputs)")
    files = list_images(images)
    if model is None:
        if checkpoint is not None:
            from .training import load_checkpoint

            model = load_checkpoint(checkpoint)
        else:
            model = _default_model()
    out.mkdir(parents=True, exist_ok=True)
    report = PredictReport()
    used: set[str] = set()
    for path in tqdm(files, desc="saliency maps", disable=not progress):
        name = path.stem + ".png"
        if name.lower() in used:
            name = path.name + ".png"
            report.renamed.append((path, out / name))
            log(f"note: {path.name}: another image has the base name {path.stem!r}; "
                f"writing {name}")
        try:
            img = read_image(path)
            sal = model.predict(img)
            if sal.shape != img.shape[:2]:
                raise RuntimeError(f"map shape {sal.shape} != image shape {img.shape[:2]}")
            target = out / name
            tmp = target.with_name(target.name + ".tmp")
            Image.fromarray(to_png_array(sal), mode="L").save(tmp, format="PNG")
            tmp.replace(target)
        except Exception as e:  # report and go on: never stop halfway
            report.failed.append((path, f"{type(e).__name__}: {e}"))
            log(f"skipped {path.name}: {type(e).__name__}: {e}")
            continue
        used.add(name.lower())
        report.written.append(target)
    return report


def main(args) -> int:
    """The ``predict`` command (``args`` from the argparse sub-parser in ``__main__``)."""
    from .training import CheckpointError

    try:
        report = predict_folder(args.images, args.out, checkpoint=args.checkpoint,
                                progress=not getattr(args, "quiet", False))
    except (FileNotFoundError, ValueError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n_fail = len(report.failed)
    print(f"wrote {len(report.written)} saliency map(s) to {args.out}"
          + (f"; {n_fail} file(s) skipped:" if n_fail else ""), file=sys.stderr)
    for path, why in report.failed:
        print(f"  {path}: {why}", file=sys.stderr)
    return 1 if n_fail else 0
