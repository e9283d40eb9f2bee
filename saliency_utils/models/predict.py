"""Saliency maps for a folder of images: ``python -m saliency_utils predict``.

    python -m saliency_utils predict --images photos/ --out maps/ [--checkpoint model.pt]

**Checks first.** ``--images`` must be a readable folder, ``--out`` a writable folder (created if
missing, never equal to ``--images``), and the inputs are listed, all before a model is loaded
or trained; a usage or I/O error ends the command with one line on stderr and exit status 2,
without loading a model. An empty folder is such an error.

**Inputs.** Every entry directly in ``--images`` with an image extension
(:data:`IMAGE_EXTENSIONS`, any case). Hidden files are ignored; other files are ignored with a
note. Entries with an image extension that are not readable files (a dangling symbolic link, a
folder) are reported and skipped, as is every file that cannot be decoded.

**Outputs.** One 8-bit grey PNG per image with the same width and height, named after the base
name (``photo.jpg`` -> ``photo.png``). Names never collide: when several inputs would get the
same name (``a.jpg`` and ``a.png``; compared case-insensitively), each of them gets its full
name plus ``.png`` (``a.jpg.png``, ``a.png.png``) and, should that be taken too (``a.jpg.bmp``
keeps its own ``a.jpg.png``), a number (``a.jpg.2.png``); each renaming is noted. A PNG is written
to a hidden temporary file in ``--out`` and renamed into place, so a failure never leaves a
partial PNG or a temporary file; an output name taken by a folder skips that image.

**The map.** Grey, palette, 16-bit, CMYK and RGBA images are converted to RGB (alpha dropped;
EXIF orientation not applied, so the map is aligned with the stored pixels). The image is
resized (bicubic) to the network's input size for its aspect ratio
(:meth:`~saliency_utils.models.saliency_model.SaliencyModel.input_shape_for`); large JPEGs are decoded
directly at a reduced scale no smaller than that size (PIL's draft mode), which is much faster
and gives the same input up to resampling. The network's density at its input size (image and
mirror image averaged, unless the model's validation choice says otherwise) is raised to the
model's exponent (chosen on the validation images for the book's models, see
:func:`saliency_utils.training.saliency.choose_postprocessing`; else
:data:`~saliency_utils.models.saliency_model.MAP_EXPONENT`), as
:meth:`~saliency_utils.models.saliency_model.SaliencyModel.predict` does (a model with
``output="minmax"`` gives its min-max map instead, as ``predict`` does), scaled to 255 at its maximum
and resized (bicubic, PIL) to the image size; PNG values are the map divided by its maximum,
times 255: 255 at the most salient pixel, a ranking within the image, not comparable across
images. This equals ``to_png_array(model.predict(image))`` up to resampling: about one grey
level on average, more at sharp peaks (that one is resized in float64 with
:func:`saliency_utils.evaluate.maps.resize_map`, seconds for a large image). PNGs are written with zlib
level 1 (fast; files somewhat larger than at the default level).

**Exit status**: 0 when every image was written, 1 when some inputs were skipped (each is
reported with its reason; the others are written), 2 for a usage or I/O error (nothing done).

The model is ``--checkpoint`` (a file written by :func:`saliency_utils.training.saliency.save_checkpoint`)
or, by default, the ``offline`` preset of :mod:`saliency_utils.training.saliency` from the checkpoint
cache, trained on first use (that takes minutes and says so). A GPU is used when present.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from saliency_utils.fileio import atomic_write, umask

__all__ = ["IMAGE_EXTENSIONS", "Plan", "PredictError", "PredictReport", "list_images", "main",
           "one_line_errors", "atomic_write", "load_model",
           "output_names", "plan_folder", "predict_folder", "read_image", "saliency_png",
           "to_png_array"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                    ".ppm", ".pgm", ".pnm")


class PredictError(Exception):
    """A usage or I/O error that stops the command before any image is processed."""


@dataclass
class PredictReport:
    """What :func:`predict_folder` did: ``written`` (output paths), ``failed`` (input path,
    reason: every skipped input, dangling links included), ``renamed`` (input path, output
    path) for name clashes and ``ignored`` (files without an image extension)."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    renamed: list[tuple[Path, Path]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Plan:
    """The checked folders and inputs of a run (:func:`plan_folder`)."""

    images: Path
    out: Path
    files: list[Path]
    names: dict[Path, str]
    skipped: list[tuple[Path, str]]
    ignored: list[Path]


def _rgb(im: Image.Image) -> np.ndarray:
    """A loaded PIL image -> ``uint8 H x W x 3``; 16-bit and float grey scaled by their max."""
    if im.mode in ("I", "F") or im.mode.startswith("I;"):
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.size and a.max() > 0 else 1.0
        a = np.clip(np.rint(np.clip(a, 0, None) / top * 255), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    arr = np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    if arr.ndim != 3 or min(arr.shape[:2]) < 1:
        raise ValueError(f"not a 2-D image (array shape {arr.shape})")
    return arr


def read_image(path: str | Path) -> np.ndarray:
    """Any image PIL reads -> ``uint8 H x W x 3`` RGB (first frame of animations). 16-bit and
    float grey images are scaled by their maximum; alpha is dropped."""
    with Image.open(path) as im:
        im.load()  # decode now: truncated or corrupt files fail here
        return _rgb(im)


def _read_for_model(path: Path, input_shape_for) -> tuple[tuple[int, int], np.ndarray]:
    """``((H, W), image resized to input_shape_for((H, W)))``; JPEGs decoded in draft mode at
    the smallest DCT scale not below the input size."""
    with Image.open(path) as im:
        w, h = im.size
        if w < 1 or h < 1:
            raise ValueError(f"empty image ({w} x {h})")
        ih, iw = input_shape_for((h, w))
        if im.format == "JPEG" and (w > 2 * iw or h > 2 * ih):
            im.draft(im.mode, (iw, ih))
        im.load()
        arr = _rgb(im)
    if arr.shape[:2] != (ih, iw):
        arr = np.asarray(Image.fromarray(arr).resize((iw, ih), Image.BICUBIC))
    return (h, w), arr


def to_png_array(density: np.ndarray) -> np.ndarray:
    """A non-negative map -> ``uint8``, its maximum at 255 (all zero stays zero)."""
    d = np.asarray(density, dtype=np.float64)
    top = d.max()
    if not np.isfinite(top) or top <= 0:
        return np.zeros(d.shape, np.uint8)
    return np.clip(np.rint(d / top * 255.0), 0, 255).astype(np.uint8)


def saliency_png(model, path: str | Path, exponent: float | None = None) -> np.ndarray:
    """The ``uint8 H x W`` PNG values :func:`predict_folder` writes for the image at ``path``
    (see the module docstring); ``exponent`` and mirror averaging default to the model's
    (:attr:`~saliency_utils.models.saliency_model.SaliencyModel.exponent`, chosen on the validation
    images for a model trained with them; ``model.flip_average``)."""
    from saliency_utils.models import saliency_model

    exponent = float(model.exponent if exponent is None else exponent)
    flip = bool(model.flip_average)
    (h, w), small = _read_for_model(Path(path), model.input_shape_for)
    if getattr(model, "output", "density") == "minmax":  # as SaliencyModel.predict, max 1
        lp = np.asarray(model.predict_log_density(small, size=small.shape[:2]), np.float64)
        if flip:
            mirror = np.ascontiguousarray(small[:, ::-1])
            lp = 0.5 * (lp + model.predict_log_density(mirror, size=small.shape[:2])[:, ::-1])
        low = saliency_model.log_density_to_minmax_map(lp, lp.shape)
        low = low / low.max()
    else:
        logp = model.predict_log_density(small, size=small.shape[:2], flip_average=flip)
        lp = exponent * np.asarray(logp, dtype=np.float64)
        low = np.exp(lp - lp.max())  # max 1
    if low.shape == (h, w):
        return to_png_array(low)
    u8 = np.clip(np.rint(low * 255.0), 0, 255).astype(np.uint8)
    up = Image.fromarray(u8, mode="L").resize((w, h), Image.BICUBIC)
    top = up.getextrema()[1]
    if 0 < top < 255:  # interpolation moved the peak between pixels: 255 at the maximum again
        lut = [min(255, int(v * 255.0 / top + 0.5)) for v in range(256)]
        up = up.point(lut)
    out = np.asarray(up)
    if out.shape != (h, w):
        raise RuntimeError(f"map shape {out.shape} != image shape {(h, w)}")
    return out


def _is_image_name(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by extension; links to files included), sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and _is_image_name(p) and p.is_file())


def output_names(files: list[Path]) -> dict[Path, str]:
    """Output file name of each input: ``stem.png``, unless another input would get the same
    name (case-insensitively), then ``name.png``, then ``name.<k>.png`` for the first free
    ``k >= 2``. The names are distinct case-insensitively (the module docstring has examples)."""
    counts: dict[str, int] = {}
    for p in files:
        key = (p.stem + ".png").lower()
        counts[key] = counts.get(key, 0) + 1
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for p in files:
        name = p.stem + ".png"
        if counts[name.lower()] == 1:
            names[p] = name
            taken.add(name.lower())
    for p in sorted(set(files) - set(names)):
        name, k = p.name + ".png", 2
        while name.lower() in taken:
            name, k = f"{p.name}.{k}.png", k + 1
        names[p] = name
        taken.add(name.lower())
    return {p: names[p] for p in files}


def _check_out(out: Path, images: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PredictError(f"--out {out} exists and is not a folder")
    if out.is_dir() and out.resolve() == images.resolve():
        raise PredictError("--out must differ from --images (outputs would overwrite PNG inputs)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PredictError(f"cannot create --out {out}: {e.strerror or e}") from None
    try:  # a real write: os.access misses read-only mounts and some ACLs
        fd, probe = tempfile.mkstemp(prefix=".write-test-", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise PredictError(f"cannot write to --out {out}: {e.strerror or e}") from None


def plan_folder(images: str | Path, out: str | Path) -> Plan:
    """Check ``images`` and ``out`` (``out`` is created) and list the inputs, without touching a
    model. Raises :class:`PredictError` for a usage or I/O error, including a folder without
    images."""
    images, out = Path(images), Path(out)
    if not images.exists():
        raise PredictError(f"--images {images} does not exist")
    if not images.is_dir():
        raise PredictError(f"--images {images} is not a folder")
    try:
        entries = sorted(images.iterdir())
    except OSError as e:
        raise PredictError(f"cannot list --images {images}: {e.strerror or e}") from None
    _check_out(out, images)
    out_resolved = out.resolve()
    files, skipped, ignored = [], [], []
    for p in entries:
        if p.name.startswith(".") or (p.is_dir() and p.resolve() == out_resolved):
            continue
        if p.is_symlink() and not p.exists():
            skipped.append((p, f"dangling symbolic link (to {os.readlink(p)})"))
        elif not _is_image_name(p):
            if p.is_file():
                ignored.append(p)
        elif p.is_file():
            files.append(p)
        else:
            kind = "a folder" if p.is_dir() else "not a regular file"
            skipped.append((p, f"{kind}, not an image"))
    if not files:
        extra = f" ({len(skipped)} unusable entries, see above)" if skipped else ""
        raise PredictError(f"no image files in {images}{extra} (extensions: "
                           f"{' '.join(IMAGE_EXTENSIONS)})")
    return Plan(images, out, files, output_names(files), skipped, ignored)


def _default_model():
    from saliency_utils.training import saliency as training

    return training.load_or_train("offline", progress=True)


def load_model(checkpoint):
    """The model ``predict`` and ``evaluate`` use: the checkpoint file if given, else the
    offline preset's (trained on first use)."""
    if checkpoint is not None:
        from saliency_utils.training.saliency import load_checkpoint

        return load_checkpoint(checkpoint)
    return _default_model()


def _write_png(values: np.ndarray, target: Path, mode: int) -> None:
    """Write ``values`` to ``target`` as an 8-bit grey PNG (:func:`atomic_write`)."""
    if target.is_dir():
        raise IsADirectoryError(f"the output name {target.name} is taken by a folder in "
                                f"{target.parent}")
    atomic_write(target, lambda f: Image.fromarray(values, mode="L").save(
        f, format="PNG", compress_level=1), mode)


def predict_folder(images: str | Path, out: str | Path, model=None,
                   checkpoint: str | Path | None = None, progress: bool = True,
                   log: Callable[[str], None] | None = None) -> PredictReport:
    """Write one saliency PNG per image of ``images`` into ``out`` (see the module docstring).

    ``model``: a :class:`~saliency_utils.models.saliency_model.SaliencyModel`; else ``checkpoint``;
    else the offline preset (trained on first use). The folders and inputs are checked
    (:func:`plan_folder`, :class:`PredictError`) before the model is loaded. Never raises for a
    bad image: skipped inputs are logged (``log``, default stderr) and listed in the returned
    :class:`PredictReport`.
    """
    from tqdm.auto import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr))
    plan = plan_folder(images, out)
    report = PredictReport(ignored=list(plan.ignored))
    for path, why in plan.skipped:
        report.failed.append((path, why))
        log(f"skipped {path.name}: {why}")
    if plan.ignored:
        shown = ", ".join(p.name for p in plan.ignored[:5])
        more = f" and {len(plan.ignored) - 5} more" if len(plan.ignored) > 5 else ""
        log(f"note: ignored {len(plan.ignored)} file(s) without an image extension: {shown}{more}")
    for path in plan.files:
        name = plan.names[path]
        if name != path.stem + ".png":
            report.renamed.append((path, plan.out / name))
            log(f"note: {path.name}: another image would also get {path.stem + '.png'!r}; "
                f"writing {name}")
    if model is None:
        try:
            model = load_model(checkpoint)
        except Exception as e:  # a bad checkpoint, failed training: one line, no traceback
            msg = " ".join(str(e).split()) or type(e).__name__
            raise PredictError(f"cannot load the model: {msg}") from e
    mode = 0o666 & ~umask()
    for path in tqdm(plan.files, desc="saliency maps", disable=not progress):
        target = plan.out / plan.names[path]
        try:
            _write_png(saliency_png(model, path), target, mode)
        except Exception as e:  # noqa: BLE001 -- report and go on: never stop halfway
            why = f"{type(e).__name__}: {e}"
            report.failed.append((path, why))
            log(f"skipped {path.name}: {why}")
            continue
        report.written.append(target)
    return report


def one_line_errors(run, expected: type[BaseException]) -> tuple[object, int]:
    """``(run(), 0)``, or ``(None, status)`` after one line on stderr and no traceback: status
    2 for an ``expected`` error (usage, data, I/O: its message as is) and for anything
    unexpected (its type and message on one line), 130 when interrupted. The error handling of
    the book's commands (``predict``, ``evaluate``)."""
    try:
        return run(), 0
    except expected as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return None, 130
    except Exception as e:  # noqa: BLE001 -- unexpected: still one line, no traceback
        print(f"error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
    return None, 2


def main(args) -> int:
    """The ``predict`` command (``args`` from the argparse sub-parser in ``__main__``): exit
    status 0 (all written), 1 (some inputs skipped) or 2 (usage or I/O error, nothing done);
    one line per problem on stderr, never a traceback."""
    report, code = one_line_errors(
        lambda: predict_folder(args.images, args.out, checkpoint=args.checkpoint,
                               progress=not getattr(args, "quiet", False)), PredictError)
    if code:
        return code
    n_fail = len(report.failed)
    print(f"wrote {len(report.written)} saliency map(s) to {args.out}"
          + (f"; {n_fail} input(s) skipped:" if n_fail else ""), file=sys.stderr)
    for path, why in report.failed:
        print(f"  {path}: {why}", file=sys.stderr)
    return 1 if n_fail else 0
