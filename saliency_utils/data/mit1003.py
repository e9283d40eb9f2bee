"""MIT1003 (Judd et al., ICCV 2009): stimuli, discrete fixations and benchmark density maps.

Sources in the offline bundle:

* ``mit1003``: 100 of the 1003 stimuli and the MIT benchmark's fixation density maps of all 1003
  images (8-bit grey JPEGs, same base names, same sizes as the stimuli).
* ``mit1003_fixations``: ``data/Fixation_MIT1003.Rda``, fixations of all 1003 images and 15
  observers. They were re-detected from Judd et al.'s raw eye samples (``DATA/<user>/<img>.mat``,
  ``eyeData``) with the R package ``saccades`` by the STASA_ms repository
  (``code/dataPreprocessingOfRawData/fixationPreprocessingMIT1003.R``), which dropped samples with
  negative coordinates and wrote one all-NA row for each trial where detection failed (2,406).
  The time columns are in seconds despite their ``_ms`` names. Each trial starts with the
  fixation on the central cross.

Coordinates: the raw MIT eye data are in MATLAB image coordinates, **1-based** (pixel centres at
1..W: Judd's ``showEyeData`` plots ``eyeData`` over ``imshow``, and MIT/NUS MATLAB code indexes
maps with the rounded or floored values and keeps ``0 < x <= w``). The loader returns
``x - 1, y - 1``. The benchmark density maps are not exactly aligned with these fixations: by
cross-correlation (120 images, Gaussian of 30 px) they match the raw ``.Rda`` values best when
those are shifted by -2 to -2.7 px in x and y, i.e. about -1 to -1.7 px from our 0-based
coordinates. MATLAB's ``floor`` indexing explains -0.5 px of it on average; the rest (the fixation
detection differs from Judd's, which built the maps) is not explained. Expect about a pixel
between the bundled density maps and densities built from these fixations.

Out of the image: 633 points lie below and 22 right of their image, by up to 217 px (off the
picture), and a few have a raw value below 0.5 (more than half a pixel left of or above the
image once 0-based). They are dropped and counted in ``n_dropped`` together with the 2,406 NA rows
(3,068 in all with the first fixations kept); 7 points within half a pixel are clipped.

Full MIT1003: if you have the original archives, put them under a data root as
``<root>/mit1003/ALLSTIMULI/<name>.jpeg`` and ``<root>/mit1003/ALLFIXATIONMAPS/<name>_fixMap.jpg``
(the layout of ``ALLSTIMULI.zip`` and ``ALLFIXATIONMAPS.zip``); :func:`mit1003_ids` then lists all
images found and the loaders read them. See ``data/README.md``.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from ._io import image_size, read_gray, read_mat, read_rgb
from .errors import DataNotFoundError
from .fixations import Fixations
from .manifest import manifest, sha256_file
from .store import cache_dir, data_roots, fetch, locate
from .viewing import MIT1003_PX_PER_DEGREE, MIT1003_SIGMA_DEG, MIT1003_SIGMA_PX

__all__ = ["MIT1003_PX_PER_DEGREE", "MIT1003_SIGMA_DEG", "MIT1003_SIGMA_PX",
           "MIT1003_PARTICIPANTS", "mit1003_ids", "mit1003_all_names", "load_mit1003_image",
           "load_mit1003_fixations", "load_mit1003_density"]

DATASET = "mit1003"
FIX_DATASET = "mit1003_fixations"
_STIMULI = "code_forOptimization/ParameterTrainingOnICCV/100_ICCV_STIMULI/"
_MAPS = "code_forOptimization/ParameterTrainingOnICCV/ICCVdata/ALLFIXATIONMAPSICCV/"
_FULL_STIMULI = "ALLSTIMULI/"
_FULL_MAPS = "ALLFIXATIONMAPS/"
_RDA = "data/Fixation_MIT1003.Rda"

# Observer ids of load_mit1003_fixations: index into this tuple (the order of the R script).
MIT1003_PARTICIPANTS = ("ajs", "CNG", "emb", "ems", "ff", "hp", "jcw", "jw", "kae", "krl",
                        "po", "tmj", "tu", "ya", "zb")


def _names_in(prefix: str) -> tuple[str, ...]:
    return tuple(sorted(e.path[len(prefix):].rsplit(".", 1)[0]
                        for e in manifest(DATASET, prefix + "*")))


@lru_cache(maxsize=1)
def _all_names() -> frozenset[str]:
    return frozenset(_names_in(_MAPS))


@lru_cache(maxsize=1)
def _bundle_stimuli() -> frozenset[str]:
    return frozenset(_names_in(_STIMULI))


def mit1003_all_names() -> list[str]:
    """The 1003 MIT1003 base names (all have fixations and a density map)."""
    return sorted(_all_names())


def _local_full_stimuli() -> set[str]:
    found = set()
    for _, root in data_roots():
        folder = root / DATASET / _FULL_STIMULI
        if folder.is_dir():
            found.update(p.stem for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
    return found & _all_names()


def mit1003_ids() -> list[str]:
    """Base names of the stimuli available: the bundle's 100, plus every image of a local full
    MIT1003 copy (``<root>/mit1003/ALLSTIMULI``) if there is one. Sorted."""
    return sorted(_bundle_stimuli() | _local_full_stimuli())


def _check_name(name: str) -> str:
    name = str(name)
    for ext in (".jpeg", ".jpg"):
        name = name.removesuffix(ext)
    if name not in _all_names():
        some = sorted(_all_names())
        raise ValueError(f"unknown MIT1003 image {name!r}; valid: the 1003 base names "
                         f"({some[0]!r} ... {some[-1]!r}, see mit1003_all_names(); "
                         f"mit1003_ids() lists those whose stimulus is available)")
    return name


def _find(bundle_path: str, full_paths: list[str]):
    """Bundle file if local, else a full-layout file if local, else fetch (download) the bundle
    file; ``bundle_path=None`` when the bundle does not have the file."""
    candidates = ([bundle_path] if bundle_path else []) + full_paths
    for rel in candidates:
        p = locate(DATASET, rel)
        if p is not None:
            return p
    return fetch(DATASET, bundle_path or full_paths[0])


def load_mit1003_image(name: str) -> np.ndarray:
    """Stimulus ``name`` (base name, e.g. ``'i05june05_static_street_boston_p1010764'``) as
    ``uint8 H x W x 3``. The bundle holds 100 stimuli; the others need a local full MIT1003."""
    name = _check_name(name)
    bundle = f"{_STIMULI}{name}.jpg" if name in _bundle_stimuli() else None
    full = [f"{_FULL_STIMULI}{name}.jpeg", f"{_FULL_STIMULI}{name}.jpg"]
    try:
        return read_rgb(_find(bundle, full))
    except DataNotFoundError as err:
        if bundle is None:
            raise DataNotFoundError(
                f"MIT1003 stimulus {name!r} is not among the 100 of the offline bundle and no "
                f"full MIT1003 copy was found.", dataset=DATASET, relpath=full[0],
                searched=err.searched,
                hint="download ALLSTIMULI.zip from the MIT1003 page (Judd et al.) and unpack it "
                     "to <SALIENCY_DATA>/mit1003/ALLSTIMULI/") from None
        raise


def _density_path(name: str):
    return _find(f"{_MAPS}{name}.jpg", [f"{_FULL_MAPS}{name}_fixMap.jpg"])


def load_mit1003_density(name: str) -> np.ndarray:
    """The benchmark's fixation density map of ``name``: float ``H x W`` in ``[0, 1]``, as stored
    (an 8-bit JPEG divided by 255, maximum 1; not normalised to sum 1, JPEG artefacts included)."""
    return read_gray(_density_path(_check_name(name)))


#: Bump when :func:`_parse_table` changes what it returns (invalidates the parsed-table cache).
_TABLE_VERSION = 1


def _parse_table(rda) -> dict[str, tuple[np.ndarray, ...]]:
    """Parse the .Rda (about 5 s): name -> (x, y, observer, is_first), 1-based raw coordinates."""
    import rdata

    with warnings.catch_warnings():  # "Missing constructor for R class data.table"
        warnings.simplefilter("ignore")
        df = rdata.read_rda(str(rda))["Fixation_MIT1003"]
    stim = df["Stimulus"].to_numpy().astype(str)
    part = df["Participant"].to_numpy().astype(str)
    x = df["Fixation_Position_X_px"].to_numpy(dtype=np.float64, na_value=np.nan)
    y = df["Fixation_Position_Y_px"].to_numpy(dtype=np.float64, na_value=np.nan)
    obs_index = {p: i for i, p in enumerate(MIT1003_PARTICIPANTS)}
    obs = np.array([obs_index[p] for p in part], dtype=np.int64)
    valid = np.isfinite(x) & np.isfinite(y)
    # first valid row of each trial (rows of a trial are contiguous and in time order)
    key = np.char.add(np.char.add(part, "/"), stim)
    vidx = np.flatnonzero(valid)
    first = np.zeros(len(df), dtype=bool)
    new_trial = np.r_[True, key[vidx][1:] != key[vidx][:-1]]
    first[vidx[new_trial]] = True
    order = np.argsort(stim, kind="stable")
    bounds = np.flatnonzero(np.r_[True, stim[order][1:] != stim[order][:-1], True])
    out = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]
        out[stim[rows[0]]] = (x[rows], y[rows], obs[rows], first[rows])
    return out


def _table_cache_path(rda) -> Path:
    return cache_dir() / "parsed" / f"mit1003_fixations-v{_TABLE_VERSION}-{sha256_file(rda)[:16]}.npz"


def _read_table_cache(path: Path) -> dict[str, tuple[np.ndarray, ...]]:
    with np.load(path, allow_pickle=False) as z:
        names, bounds = z["names"], z["bounds"]
        cols = [z[c] for c in ("x", "y", "observer", "first")]
    return {str(n): tuple(c[a:b] for c in cols) for n, a, b in zip(names, bounds[:-1], bounds[1:])}


def _write_table_cache(path: Path, table: dict) -> None:
    names = list(table)
    bounds = np.cumsum([0] + [len(table[n][0]) for n in names])
    cols = {c: np.concatenate([table[n][j] for n in names])
            for j, c in enumerate(("x", "y", "observer", "first"))}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, names=np.array(names), bounds=bounds, **cols))


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[np.ndarray, ...]]:
    """The fixation table, name -> (x, y, observer, is_first) in 1-based raw coordinates.

    Parsing the .Rda takes about 5 s, so the parsed table is kept in the cache folder
    (``parsed/``, :func:`saliency_utils.data.store.cache_dir`), keyed by the .Rda's sha256 and
    :data:`_TABLE_VERSION`, written atomically; an unreadable cache file is parsed again and
    replaced, and an unwritable cache folder only costs the parse."""
    rda = fetch(FIX_DATASET, _RDA)
    path = _table_cache_path(rda)
    if path.is_file():
        try:
            return _read_table_cache(path)
        except Exception as err:  # corrupt or truncated: parse again below
            warnings.warn(f"parsed MIT1003 table {path} unreadable ({err}); parsing the .Rda again",
                          stacklevel=2)
    table = _parse_table(rda)
    try:
        _write_table_cache(path, table)
    except OSError as err:
        warnings.warn(f"could not keep the parsed MIT1003 table in {path.parent} ({err}); "
                      "it is parsed again next time", stacklevel=2)
    return table


def load_mit1003_fixations(name: str, drop_first: bool = True) -> Fixations:
    """Fixations of the 15 observers on image ``name`` (any of the 1003 base names).

    ``drop_first=True`` (default) removes each trial's first fixation, the one on the central
    fixation cross, as Judd et al. and pysaliency do (it also matches the benchmark maps better);
    it is not counted in ``n_dropped``. ``observer`` indexes :data:`MIT1003_PARTICIPANTS`.
    Coordinates are converted from 1-based to 0-based; NA rows and points more than half a pixel
    outside the image are dropped and counted (see the module docstring).
    """
    name = _check_name(name)
    x, y, obs, first = _table()[name]
    if drop_first:
        x, y, obs = x[~first], y[~first], obs[~first]
    shape = image_size(_density_path(name))
    with np.errstate(invalid="ignore"):  # NA rows stay NaN and are dropped
        return Fixations.from_points(x - 1.0, y - 1.0, obs, shape)


_DEMO = "code_forVisualization/demo_ims"


def load_mit1003_demo(name: str = "i210") -> dict:
    """The MIT saliency benchmark's visualisation example (``code_forVisualization/demo_ims``):
    ``image``, ``fixation_map`` (bool, the benchmark's binary ``FIXATIONLOCS``), ``density``
    (its ``FIXATIONMAPS`` JPEG in [0, 1]) and ``models`` (``{"Judd": map, "ittikoch": map}``,
    as stored, at their own size). Only ``i210`` ships with the bundle."""

    if name != "i210":
        raise ValueError(f"only the 'i210' demo example exists in the benchmark code, not {name!r}")
    fixmap = read_mat(fetch(DATASET, f"{_DEMO}/FIXATIONLOCS/{name}.mat"))["fixations"]
    return {
        "image": read_rgb(fetch(DATASET, f"{_DEMO}/ALLSTIMULI/{name}.jpg")),
        "fixation_map": np.asarray(fixmap) > 0,
        "density": read_gray(fetch(DATASET, f"{_DEMO}/FIXATIONMAPS/{name}.jpg")),
        "models": {m: read_gray(fetch(DATASET, f"{_DEMO}/MODELS/{m}_{name}.jpg"))
                   for m in ("Judd", "ittikoch")},
    }
