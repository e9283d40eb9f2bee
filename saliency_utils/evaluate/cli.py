"""Score saliency maps on any eye-tracking set: ``python -m saliency_utils evaluate``.

    python -m saliency_utils evaluate --images DIR --fixations FILE.csv|DIR --out scores.csv
        [--maps DIR | --checkpoint model.pt] [--metrics ...] [--sigma PX]
        [--centre-bias-sigma SY SX | --fit-centre-bias] [--resize-maps] [--quiet]

The maps (the user's, ``--maps``, or the book's saliency model's) and the centre-bias anchor
are scored on the same images with the book's one scorer,
:func:`saliency_utils.evaluate.scoring.score_maps` (one pass, both sources), on a
:class:`~saliency_utils.evaluate.scoring.FixationDataset` built from the files; the summary is each
metric's mean with its 95 % confidence interval over images (:func:`saliency_utils.evaluate.stats.mean_ci`)
for the maps and the centre bias, and the paired difference maps minus centre bias
(:func:`saliency_utils.evaluate.stats.paired_difference`). The per-image scores go to ``--out``.
:data:`FORMAT` (also the command's ``--help``) describes the input formats.

**Checks first.** Every path, the fixation file (columns, values, image names), every image
header, every map's header and size, ``--out`` (a real write test) and the centre-bias widths
are checked before a model is loaded or any map is scored. A usage, data or I/O error ends the
command with one line on stderr and exit status 2, without a traceback and without touching
``--out``. Exit status 1: the scores were written but some images were skipped (every fixation
of an image outside it, or an empty ``.mat`` map), each reported; 0: all images were scored.

**Fixations outside the image.** Points more than half a pixel beyond the border are dropped
and counted (one warning line: how many, from which images); points within half a pixel are
clipped onto the border pixel (:meth:`saliency_utils.data.Fixations.from_points`).

**Unscorable maps.** A map that cannot be scored (constant, not finite, negative values for
CC/SIM/KLD, ...) is an error (exit 2) naming the image: the book's failure policy
``failure="raise"``; averaging over the other images would hide the failure.

**Output.** ``--out`` is a CSV, one row per scored image: ``image`` (file name), ``fixations``
(kept), ``dropped`` (outside the image), one column per metric for the maps and one
``centre_bias_<metric>`` column per metric. It is written to a hidden temporary file in the
same folder and renamed into place, so a failure never leaves a partial or temporary file (and
an existing ``--out`` stays as it was).
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["EvaluateError", "FORMAT", "MAP_EXTENSIONS", "MapFolder", "Result", "UserSet",
           "add_arguments",
           "default_sigma", "evaluate", "main", "match_maps", "read_map", "read_user_set",
           "write_csv"]

#: MIT1003's longest image side in pixels: the book's density sigma for MIT1003
#: (``data.MIT1003_SIGMA_PX``, one degree) belongs to images of this size.
MIT1003_LONG_SIDE = 1024


def _image_extensions() -> tuple[str, ...]:
    from saliency_utils.models.predict import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


#: Extensions of map files read from ``--maps`` (grey images, or 2-D NumPy arrays).
MAP_EXTENSIONS = (".npy", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                  ".ppm", ".pgm", ".pnm")

#: Variables tried, in order, in a ``.mat`` fixation map (else its only 2-D array).
MAT_VARIABLES = ("fixLocs", "fixations", "fixationPts", "fixmap")

FORMAT = """\
input format:
  --images DIR       image files (JPEG, PNG, BMP, TIFF, WebP, GIF, PNM) directly in DIR.
                     Coordinates refer to the stored pixels (EXIF orientation is not applied).
  --fixations FILE   either
                     * a CSV file with a header row and the columns image,x,y[,observer]
                       (other columns ignored): image = a file name in DIR (or its name
                       without extension when that is unique); x = column, y = row, in pixels
                       of the original image, 0-based (the centre of the top-left pixel is
                       0,0); observer optional (any label; all fixations of an image are used
                       either way). One row per fixation.
                     * or a folder of MIT-style per-image .mat files: <image stem>.mat holding
                       a binary fixation map the size of the image (variable fixLocs,
                       fixations, fixationPts or fixmap, else its only 2-D array), as the MIT
                       saliency benchmark's FIXATIONLOCS, CAT2000's and FIGRIM's files; each
                       nonzero pixel is one fixation (row = y, column = x).
                     Images of DIR without fixations are not evaluated (a note says how many);
                     fixations naming an image that is not in DIR are an error.
  --maps DIR         optional: your saliency maps, one per image, matched by name:
                     <image stem>.<ext> (or <image file name>.<ext>, as `predict` names them
                     when stems clash), ext = .npy (a 2-D array, saved with numpy.save) or a
                     grey image (.png, .jpg, ...; 8 or 16 bit; colour images are refused).
                     Maps must have the image's size unless --resize-maps. Without --maps the
                     book's saliency model predicts the maps (--checkpoint, or the offline
                     preset's model, trained on first use).

defaults:
  --metrics          the book's standard list, saliency_utils.evaluate.anchors.FAST_METRICS
                     (AUC-Judd NSS CC SIM KLD; KLD lower is better); any of AUC-Judd
                     AUC-Borji sAUC NSS CC SIM KLD IG (IG: information gain over the
                     centre-bias anchor).
  --sigma            the Gaussian of the human density (CC, SIM, KLD), in pixels. Default: the
                     book's one degree for MIT1003 (35 px on images whose longest side is
                     1024 px) scaled to the median longest side of your images, i.e. it assumes
                     your images span about as many degrees as MIT1003's. Pass your set's
                     pixels per degree when you know it.
  --centre-bias-sigma SY SX
                     the centre-bias anchor: a Gaussian at the image centre with standard
                     deviations SY x height and SX x width. Default: the book's anchor, the
                     widths fitted to the OSIE training fixations
                     (saliency_utils.training.saliency.osie_centre_bias): NOT fitted on your set.
                     --fit-centre-bias fits them to the fixations being scored (in sample:
                     it favours the anchor).

exit status: 0 every image scored; 1 scores written, some images skipped (no fixation inside
the image); 2 usage, data or I/O error (nothing written)."""


class EvaluateError(Exception):
    """A usage, data or I/O error that stops the command before anything is written."""


# ------------------------------------------------------------------------------ the user's set
@dataclass
class UserSet:
    """The checked images and fixations (:func:`read_user_set`).

    ``files``: image id (file name) -> path, for the scored images, sorted; ``fixations``: id ->
    :class:`~saliency_utils.data.Fixations`; ``dropped``: id -> points dropped outside the image;
    ``skipped``: ``(id, reason)`` of images left without a fixation; ``unused``: images of the
    folder that the fixation file does not mention; ``kind``: ``"csv"`` or ``"mat"``."""

    images: Path
    files: dict = field(default_factory=dict)
    fixations: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    unused: list = field(default_factory=list)
    kind: str = "csv"

    @property
    def shapes(self) -> dict:
        return {i: f.shape for i, f in self.fixations.items()}


def _listing(names: Sequence[str], n: int = 5) -> str:
    names = list(names)
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _check_images_dir(images: Path) -> dict:
    """``{file name: path}`` of the image files directly in ``images``."""
    from saliency_utils.models.predict import list_images

    if not images.exists():
        raise EvaluateError(f"--images {images} does not exist")
    if not images.is_dir():
        raise EvaluateError(f"--images {images} is not a folder")
    try:
        files = list_images(images)
    except OSError as e:
        raise EvaluateError(f"cannot list --images {images}: {e.strerror or e}") from None
    if not files:
        raise EvaluateError(f"no image files in --images {images} (extensions: "
                            f"{' '.join(_image_extensions())})")
    return {p.name: p for p in files}


def _image_shape(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as e:  # noqa: BLE001 -- any decoder error: name the file
        raise EvaluateError(f"cannot read image {path}: {_one_line(e)}") from None
    if w < 1 or h < 1:
        raise EvaluateError(f"cannot read image {path}: empty ({w} x {h})")
    return h, w


def _resolver(files: dict):
    """``name -> file name in the folder``: the exact file name, else the stem when unique."""
    by_stem: dict = {}
    for name, p in files.items():
        by_stem.setdefault(p.stem, []).append(name)

    def resolve(name: str):
        if name in files:
            return name
        hits = by_stem.get(name, [])
        return hits[0] if len(hits) == 1 else None

    return resolve, by_stem


def _read_csv(path: Path, files: dict) -> dict:
    """``{file name: (x, y, observer)}`` from a fixation CSV (see :data:`FORMAT`)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                         encoding="utf-8-sig")  # a byte-order mark (spreadsheets) is skipped
    except pd.errors.EmptyDataError:
        raise EvaluateError(f"--fixations {path} is empty (expected a header image,x,y"
                            "[,observer] and one row per fixation)") from None
    except Exception as e:  # noqa: BLE001 -- parser / decoding errors: one line
        raise EvaluateError(f"cannot read --fixations {path} as CSV: {_one_line(e)}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("image", "x", "y") if c not in df.columns]
    if missing:
        raise EvaluateError(f"--fixations {path} lacks the column(s) {', '.join(missing)} "
                            f"(header: {','.join(df.columns)}; expected image,x,y[,observer])")
    if len(df) == 0:
        raise EvaluateError(f"--fixations {path} has a header but no fixation rows")
    coords = {}
    for c in ("x", "y"):
        v = pd.to_numeric(df[c].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            k = int(bad[0])
            raise EvaluateError(f"--fixations {path}, line {k + 2}: {c} = {df[c].iloc[k]!r} is "
                                f"not a finite number ({bad.size} such row(s))")
        coords[c] = v
    names = df["image"].str.strip().to_numpy(dtype=object)
    if "observer" in df.columns:
        _, obs = np.unique(df["observer"].str.strip().to_numpy(dtype=str), return_inverse=True)
    else:
        obs = np.zeros(len(df), np.int64)
    resolve, by_stem = _resolver(files)
    uniq = list(dict.fromkeys(names))
    target = {n: resolve(n) for n in uniq}
    unknown = [n for n in uniq if target[n] is None]
    if unknown:
        ambiguous = [n for n in unknown if len(by_stem.get(n, [])) > 1]
        extra = (f"; ambiguous without extension: {_listing(ambiguous)}" if ambiguous else "")
        raise EvaluateError(f"--fixations {path} names {len(unknown)} image(s) not in "
                            f"--images: {_listing(repr(n) for n in unknown)}{extra}")
    rows: dict = {}
    for k, n in enumerate(names):
        rows.setdefault(target[n], []).append(k)
    return {name: (coords["x"][idx], coords["y"][idx], obs[idx])
            for name, idx in ((n, np.asarray(r)) for n, r in rows.items())}


def _mat_map(path: Path) -> np.ndarray:
    from saliency_utils.data import read_mat

    try:
        mat = read_mat(path)
    except Exception as e:  # noqa: BLE001 -- DataFileError and friends: one line
        raise EvaluateError(f"cannot read fixation map {path}: {_one_line(e)}") from None
    for key in MAT_VARIABLES:
        if key in mat:
            arr = np.asarray(mat[key])
            break
    else:
        arrays = {k: v for k, v in mat.items() if not k.startswith("__")
                  and isinstance(v, np.ndarray) and v.ndim == 2 and v.size > 1}
        if len(arrays) != 1:
            raise EvaluateError(f"fixation map {path}: no variable {'/'.join(MAT_VARIABLES)} and "
                                f"{len(arrays)} 2-D arrays (variables: "
                                f"{sorted(k for k in mat if not k.startswith('__'))})")
        arr = np.asarray(next(iter(arrays.values())))
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise EvaluateError(f"fixation map {path}: expected a 2-D numeric array, got shape "
                            f"{arr.shape}, type {arr.dtype}")
    return arr


def _read_mat_folder(folder: Path, files: dict) -> dict:
    """``{file name: (x, y, observer, shape of the map)}`` from a folder of ``.mat`` maps."""
    try:
        mats = sorted(p for p in folder.iterdir()
                      if p.suffix.lower() == ".mat" and not p.name.startswith("."))
    except OSError as e:
        raise EvaluateError(f"cannot list --fixations {folder}: {e.strerror or e}") from None
    if not mats:
        raise EvaluateError(f"--fixations {folder} holds no .mat file")
    resolve, _ = _resolver(files)
    target = {p: resolve(p.stem) for p in mats}
    unknown = [p.name for p, t in target.items() if t is None]
    if unknown:
        raise EvaluateError(f"--fixations {folder} has {len(unknown)} fixation map(s) of images "
                            f"not in --images: {_listing(unknown)}")
    out = {}
    for p in mats:
        arr = _mat_map(p)
        y, x = np.nonzero(arr)
        out[target[p]] = (x.astype(np.float64), y.astype(np.float64), np.zeros(x.size, np.int64),
                          arr.shape, p)
    return out


def read_user_set(images: str | Path, fixations: str | Path) -> UserSet:
    """Check ``images`` and ``fixations`` and read the fixations of every image they name
    (:data:`FORMAT`); raises :class:`EvaluateError`. Images whose fixations all lie outside
    them are skipped (``UserSet.skipped``); none left is an error."""
    from saliency_utils.data import Fixations

    images, fixations = Path(images), Path(fixations)
    files = _check_images_dir(images)
    if not fixations.exists():
        raise EvaluateError(f"--fixations {fixations} does not exist")
    user = UserSet(images)
    if fixations.is_dir():
        user.kind = "mat"
        points = _read_mat_folder(fixations, files)
    else:
        if not os.access(fixations, os.R_OK):
            raise EvaluateError(f"--fixations {fixations} is not readable")
        points = _read_csv(fixations, files)
    for name in sorted(points):
        path = files[name]
        shape = _image_shape(path)
        x, y, obs = points[name][:3]
        if user.kind == "mat":
            mshape, mpath = points[name][3], points[name][4]
            if tuple(mshape) != shape:
                raise EvaluateError(f"fixation map {mpath} is {mshape[0]} x {mshape[1]} "
                                    f"(height x width) but image {path} is {shape[0]} x "
                                    f"{shape[1]}")
        f = Fixations.from_points(x, y, obs, shape)
        if f.n_dropped:
            user.dropped[name] = f.n_dropped
        if len(f) == 0:
            why = (f"all {f.n_dropped} fixation(s) lie outside the image" if f.n_dropped
                   else "its fixation map is empty")
            user.skipped.append((name, why))
            continue
        user.files[name] = path
        user.fixations[name] = f
    user.unused = sorted(set(files) - set(points))
    if not user.files:
        raise EvaluateError(f"no image has a fixation inside it ({len(points)} image(s) named "
                            f"by --fixations {fixations}; {sum(user.dropped.values())} "
                            "fixation(s) outside their image)")
    return user


def default_sigma(shapes) -> float:
    """The default density sigma in pixels for images of ``shapes`` ((H, W) pairs): the book's
    one degree for MIT1003 (``data.MIT1003_SIGMA_PX`` on a :data:`MIT1003_LONG_SIDE` longest
    side) scaled to the median longest side."""
    from saliency_utils.data import MIT1003_SIGMA_PX

    longest = float(np.median([max(s) for s in shapes]))
    return MIT1003_SIGMA_PX * longest / MIT1003_LONG_SIDE


def _dataset(user: UserSet, sigma: float):
    from saliency_utils.evaluate.scoring import FixationDataset
    from saliency_utils.models.predict import read_image

    def load_image(name):
        try:
            return read_image(user.files[name])
        except Exception as e:  # noqa: BLE001 -- name the file
            raise EvaluateError(f"cannot read image {user.files[name]}: {_one_line(e)}") from None

    return FixationDataset(user.images.name or str(user.images), tuple(user.files), load_image,
                           user.fixations.__getitem__, float(sigma), float("nan"))


# ------------------------------------------------------------------------------ maps
def read_map(path: str | Path) -> np.ndarray:
    """A map file as float64 ``H x W``: a 2-D ``.npy`` array or a grey image (8/16-bit, float;
    an RGB image only when its three channels are equal). :class:`EvaluateError` names the file
    otherwise."""
    from PIL import Image

    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as im:
                im.load()
                if im.mode in ("L", "I", "F", "1") or im.mode.startswith("I;"):
                    arr = np.asarray(im)
                elif im.mode == "LA":
                    arr = np.asarray(im.getchannel("L"))
                else:
                    rgb = np.asarray(im.convert("RGB"))
                    if not (np.array_equal(rgb[..., 0], rgb[..., 1])
                            and np.array_equal(rgb[..., 0], rgb[..., 2])):
                        raise EvaluateError(f"map {path} is a colour image (mode {im.mode}); "
                                            "give grey maps (one value per pixel)")
                    arr = rgb[..., 0]
    except EvaluateError:
        raise
    except Exception as e:  # noqa: BLE001 -- any decoder error: name the file
        raise EvaluateError(f"cannot read map {path}: {_one_line(e)}") from None
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise EvaluateError(f"map {path}: expected a 2-D numeric array, got shape {arr.shape}, "
                            f"type {arr.dtype}")
    return arr.astype(np.float64)


def _map_shape(path: Path) -> tuple[int, ...]:
    from PIL import Image

    try:
        if path.suffix.lower() == ".npy":
            return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
        with Image.open(path) as im:
            w, h = im.size
        return (h, w)
    except Exception as e:  # noqa: BLE001 -- name the file
        raise EvaluateError(f"cannot read map {path}: {_one_line(e)}") from None


def match_maps(maps_dir: str | Path, user: UserSet, resize: bool = False) -> tuple[dict, int]:
    """``({image id: map path}, number of maps of the wrong size)`` for the scored images,
    checked: one map per image (named ``<stem>.<ext>`` or ``<file name>.<ext>``), readable
    headers, the image's size unless ``resize``. Raises :class:`EvaluateError`."""
    maps_dir = Path(maps_dir)
    if not maps_dir.exists():
        raise EvaluateError(f"--maps {maps_dir} does not exist")
    if not maps_dir.is_dir():
        raise EvaluateError(f"--maps {maps_dir} is not a folder")
    try:
        entries = [p for p in maps_dir.iterdir() if not p.name.startswith(".")
                   and p.suffix.lower() in MAP_EXTENSIONS]
    except OSError as e:
        raise EvaluateError(f"cannot list --maps {maps_dir}: {e.strerror or e}") from None
    by_stem: dict = {}
    for p in entries:
        by_stem.setdefault(p.stem, []).append(p)
    found, missing, ambiguous, claimed = {}, [], [], {}
    for name, path in user.files.items():
        key = name if name in by_stem else path.stem
        hits = sorted(by_stem.get(key, []))
        if not hits:
            missing.append(name)
        elif len(hits) > 1:
            ambiguous.append(f"{name} ({', '.join(h.name for h in hits)})")
        else:
            found[name] = hits[0]
            claimed.setdefault(hits[0], []).append(name)
    if missing:
        raise EvaluateError(f"--maps {maps_dir} has no map for {len(missing)} image(s): "
                            f"{_listing(missing)} (expected <image stem>.npy or .png)")
    if ambiguous:
        raise EvaluateError(f"--maps {maps_dir}: several maps match {_listing(ambiguous)}; "
                            "keep one per image")
    shared = [f"{p.name} ({', '.join(n)})" for p, n in claimed.items() if len(n) > 1]
    if shared:
        raise EvaluateError(f"--maps {maps_dir}: images with the same stem would share a map: "
                            f"{_listing(shared)}; name the maps <image file name>.<ext>")
    wrong = []
    for name, p in found.items():
        shape = _map_shape(p)
        if len(shape) != 2 or min(shape) < 1:
            raise EvaluateError(f"map {p}: expected a 2-D array, got shape {shape}")
        if shape != user.fixations[name].shape:
            wrong.append((p, shape, name, user.fixations[name].shape))
    if wrong and not resize:
        p, s, name, t = wrong[0]
        more = f" (and {len(wrong) - 1} more map(s) of the wrong size)" if len(wrong) > 1 else ""
        raise EvaluateError(f"map {p} is {s[0]} x {s[1]} (height x width) but image {name} is "
                            f"{t[0]} x {t[1]}{more}; pass --resize-maps to resize maps to "
                            "their image")
    return found, len(wrong)


class MapFolder(Sequence):
    """The maps of ``paths`` (aligned with the dataset's ids), each read on access with
    :func:`read_map`, so that a large set is never held in memory; a map that is not a finite,
    non-constant 2-D array (:func:`saliency_utils.evaluate.maps.check_saliency_map`) raises
    :class:`EvaluateError` naming its file."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k):
        from saliency_utils.evaluate.maps import check_saliency_map

        path = self.paths[k]
        m = read_map(path)
        try:
            check_saliency_map(m, name=f"map {path}")
        except ValueError as e:
            raise EvaluateError(f"unscorable map: {_one_line(e)}") from None
        return m


class _CentreBias(Sequence):
    """The centre-bias map of each image (:func:`saliency_utils.evaluate.anchors.centre_bias_map`), made on
    access: the same maps as :func:`saliency_utils.evaluate.scoring.centre_bias_maps` without holding
    them all."""

    def __init__(self, shapes, widths):
        self.shapes, self.widths = list(shapes), widths

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, k):
        from saliency_utils.evaluate.anchors import centre_bias_map

        return centre_bias_map(self.shapes[k], self.widths)


# ------------------------------------------------------------------------------ output
def _check_out(out: Path, protect: Sequence[Path]) -> None:
    if out.exists() and out.is_dir():
        raise EvaluateError(f"--out {out} is a folder; give a file name (scores.csv)")
    for p in protect:
        if out.exists() and p.exists() and out.resolve() == p.resolve():
            raise EvaluateError(f"--out {out} is an input file; choose another name")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EvaluateError(f"cannot create the folder of --out {out}: {e.strerror or e}") from None
    try:  # a real write: os.access misses read-only mounts and some ACLs
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise EvaluateError(f"cannot write --out {out}: {e.strerror or e}") from None


def write_csv(df, out: str | Path) -> None:
    """Write ``df`` to ``out`` all at once (:func:`saliency_utils.fileio.atomic_write`: a
    hidden temporary file in the same folder, then ``os.replace``; the temporary file never
    survives a failure)."""
    import io

    from saliency_utils.fileio import atomic_write

    def write(f):
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        df.to_csv(text, index=False)
        text.flush()
        text.detach()  # the binary file stays open for atomic_write to close

    atomic_write(out, write)


# ------------------------------------------------------------------------------ the command
@dataclass
class Result:
    """What :func:`evaluate` computed: ``frame`` (the per-image CSV), ``summary`` (metric ->
    ``(maps, centre bias, difference)`` :class:`~saliency_utils.evaluate.stats.Estimate`), the user set,
    the density ``sigma`` and its origin, the centre-bias ``widths`` and their origin."""

    frame: object
    summary: dict
    user: UserSet
    sigma: float
    sigma_note: str
    widths: tuple
    widths_note: str
    metrics: tuple
    source: str


def _metrics(wanted) -> tuple:
    from saliency_utils.evaluate import anchors, metrics

    if not wanted:
        return tuple(anchors.FAST_METRICS)
    names = [m for w in wanted for m in str(w).replace(",", " ").split()]
    unknown = [m for m in names if m not in metrics.METRIC_NAMES]
    if unknown:
        raise EvaluateError(f"unknown metric(s) {', '.join(unknown)}; choose from "
                            f"{' '.join(metrics.METRIC_NAMES)}")
    if not names:
        raise EvaluateError("--metrics is empty")
    return tuple(dict.fromkeys(names))


def _widths(args, user: UserSet) -> tuple[tuple[float, float], str]:
    from saliency_utils.evaluate import anchors

    if args.centre_bias_sigma is not None:
        sy, sx = (float(v) for v in args.centre_bias_sigma)
        if not (np.isfinite(sy) and np.isfinite(sx) and sy > 0 and sx > 0):
            raise EvaluateError(f"--centre-bias-sigma must be two positive numbers, got "
                                f"{sy:g} {sx:g}")
        return (sy, sx), "given with --centre-bias-sigma"
    if args.fit_centre_bias:
        try:
            w = anchors.fit_centre_bias(list(user.fixations.values()))
        except ValueError as e:
            raise EvaluateError(f"cannot fit the centre bias: {e}") from None
        return w, "fitted to these fixations (in sample: favours the anchor)"
    try:
        from saliency_utils.training.saliency import osie_centre_bias

        w = osie_centre_bias()
    except Exception as e:  # noqa: BLE001 -- data not found etc.: one line, and what to do
        raise EvaluateError(f"cannot get the default centre bias (fitted on OSIE): "
                            f"{_one_line(e)}; pass --centre-bias-sigma SY SX") from None
    return w, "the book's anchor, fitted on OSIE training fixations, not on this set"


def _difference(a, b):
    """:func:`evaluate.stats.paired_difference` of ``a - b``; with one image (no test possible) the
    difference with :func:`evaluate.stats.mean_ci`'s undefined interval and no p-value."""
    from saliency_utils.evaluate import stats

    if len(a) < 2:
        return stats.mean_ci(np.asarray(a, float) - np.asarray(b, float))
    return stats.paired_difference(a, b)


def evaluate(args, log=None) -> Result:
    """Run the command on parsed ``args`` (see :func:`add_arguments`) up to the written CSV;
    raises :class:`EvaluateError` for a usage, data or I/O error."""
    from saliency_utils.evaluate import stats
    from saliency_utils.evaluate.scoring import model_maps, score_maps

    log = log or (lambda msg: print(msg, file=sys.stderr))
    wanted = _metrics(args.metrics)
    if args.sigma is not None and not (np.isfinite(args.sigma) and args.sigma > 0):
        raise EvaluateError(f"--sigma must be a positive number of pixels, got {args.sigma:g}")
    if args.maps is not None and args.checkpoint is not None:
        raise EvaluateError("--checkpoint is for the book's model; it cannot go with --maps")
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise EvaluateError(f"--checkpoint {args.checkpoint} is not a file")
    out = Path(args.out)
    user = read_user_set(args.images, args.fixations)
    _check_out(out, [Path(args.fixations)])
    if "sAUC" in wanted and len(user.files) < 2:
        raise EvaluateError("sAUC needs at least two images with fixations")
    if user.unused:
        log(f"note: {len(user.unused)} image(s) of --images have no fixations and are not "
            f"evaluated: {_listing(user.unused)}")
    if user.dropped:
        items = [f"{n} ({k})" for n, k in sorted(user.dropped.items())]
        log(f"warning: dropped {sum(user.dropped.values())} fixation(s) outside their image "
            f"(more than half a pixel beyond the border) from {len(items)} image(s): "
            f"{_listing(items)}")
    for name, why in user.skipped:
        log(f"skipped {name}: {why}")
    if args.sigma is not None:
        sigma, sigma_note = float(args.sigma), "given with --sigma"
    else:
        sigma = default_sigma(user.shapes.values())
        sigma_note = (f"default: one degree as for MIT1003 ({MIT1003_LONG_SIDE} px longest "
                      "side) scaled to these images; pass --sigma with your set's px/degree")
    widths, widths_note = _widths(args, user)
    ds = _dataset(user, sigma)
    if args.maps is not None:
        found, resized = match_maps(args.maps, user, resize=args.resize_maps)
        if resized:
            log(f"note: {resized} map(s) will be resized to their image (--resize-maps)")
        maps_src = MapFolder([found[i] for i in ds.ids])
        source = f"maps in {args.maps}"
    else:
        from saliency_utils.models.predict import load_model

        try:
            model = load_model(args.checkpoint)
        except Exception as e:  # a bad checkpoint, failed training: one line, no traceback
            raise EvaluateError(f"cannot load the model: {_one_line(e)}") from e
        maps_src = model_maps(model)
        source = ("the book's saliency model" + (f" ({args.checkpoint})" if args.checkpoint
                                                 else " (offline preset)"))
    cb = _CentreBias([user.fixations[i].shape for i in ds.ids], widths)
    try:
        scores = score_maps({"maps": maps_src, "centre_bias": cb}, ds, wanted,
                            centre_bias=widths, resize=args.resize_maps, seed=0,
                            progress=not args.quiet)
    except ValueError as e:  # the failure policy "raise": an unscorable map
        raise EvaluateError(_one_line(e)) from None
    m, c = scores["maps"], scores["centre_bias"]
    frame = m[["image"]].copy()
    frame["fixations"] = [len(user.fixations[i]) for i in ds.ids]
    frame["dropped"] = [user.dropped.get(i, 0) for i in ds.ids]
    for w in wanted:
        frame[w] = m[w].to_numpy()
    for w in wanted:
        frame[f"centre_bias_{w}"] = c[w].to_numpy()
    summary = {w: (stats.mean_ci(m[w]), stats.mean_ci(c[w]), _difference(m[w], c[w]))
               for w in wanted}
    write_csv(frame, out)
    return Result(frame, summary, user, sigma, sigma_note, tuple(widths), widths_note, wanted,
                  source)


def _report(res: Result, out: Path) -> str:
    from saliency_utils.evaluate.metrics import HIGHER_IS_BETTER

    n = len(res.frame)
    lines = [f"{n} image(s) of {res.user.images}, {int(res.frame['fixations'].sum())} fixations; "
             f"scored: {res.source}",
             f"density sigma {res.sigma:.2f} px ({res.sigma_note})",
             f"centre bias: Gaussian, sigma {res.widths[0]:.3f} x height, {res.widths[1]:.3f} x "
             f"width ({res.widths_note})"]
    first = next(iter(res.summary.values()))
    lines.append(f"mean [95 % CI] over images ({first[0].method}); difference: paired, "
                 f"p from a sign-flip test")
    head = f"{'metric':<10} {'maps':<26} {'centre bias':<26} {'maps - centre bias':<28} p"
    lines += [head, "-" * len(head)]
    for w, (e_m, e_c, d) in res.summary.items():
        better = "" if HIGHER_IS_BETTER[w] else "  (lower is better)"
        lines.append(f"{w:<10} {e_m.text('{:.3f}'):<26} {e_c.text('{:.3f}'):<26} "
                     f"{d.text('{:+.3f}'):<28} {'-' if d.p is None else f'{d.p:.3g}'}{better}")
    lines.append(f"per-image scores: {out}")
    return "\n".join(lines)


def main(args) -> int:
    """The ``evaluate`` command (``args`` from :func:`add_arguments`' parser): exit status 0,
    1 (some images skipped) or 2 (usage, data or I/O error: nothing written); one line per
    problem on stderr, never a traceback."""
    from saliency_utils.models.predict import one_line_errors

    res, code = one_line_errors(lambda: evaluate(args), EvaluateError)
    if code:
        return code
    print(_report(res, Path(args.out)))
    if res.user.skipped:
        print(f"{len(res.user.skipped)} image(s) skipped (no fixation inside the image): "
              f"{_listing([n for n, _ in res.user.skipped])}", file=sys.stderr)
        return 1
    return 0


def add_arguments(p) -> None:
    """The ``evaluate`` options on the argparse (sub-)parser ``p``."""
    p.add_argument("--images", type=Path, required=True, metavar="DIR",
                   help="folder of the images (see 'input format' below)")
    p.add_argument("--fixations", type=Path, required=True, metavar="FILE",
                   help="CSV image,x,y[,observer] (0-based pixels) or a folder of .mat maps")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.csv",
                   help="per-image scores (CSV; written atomically)")
    p.add_argument("--maps", type=Path, default=None, metavar="DIR",
                   help="your maps (.npy or grey images, by image stem); default: the book's "
                   "model predicts them")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model checkpoint for the book's model (without --maps); default: the "
                   "offline preset's cached model, trained on first use")
    p.add_argument("--metrics", nargs="+", default=None, metavar="METRIC",
                   help="metrics (space or comma separated); default: AUC-Judd NSS CC SIM KLD")
    p.add_argument("--sigma", type=float, default=None, metavar="PX",
                   help="density blur in pixels (one degree); default below")
    cb = p.add_mutually_exclusive_group()
    cb.add_argument("--centre-bias-sigma", type=float, nargs=2, default=None,
                    metavar=("SY", "SX"),
                    help="centre-bias Gaussian widths as fractions of height and width; "
                    "default: fitted on OSIE (not on this set)")
    cb.add_argument("--fit-centre-bias", action="store_true",
                    help="fit the centre-bias widths to these fixations (in sample)")
    p.add_argument("--resize-maps", action="store_true",
                   help="resize maps whose size differs from their image (default: error)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
