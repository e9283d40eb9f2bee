"""Data layer of the book: find, download and verify data files, and load the datasets.

Files are found locally (``SALIENCY_DATA``, the offline bundle beside the project, the cache) or
downloaded from their pinned source repositories and checked against the manifest; see
:mod:`.store` and ``data/README.md``. Loaders return plain numpy arrays and small dataclasses;
fixations are always 0-based pixel coordinates (x = column, y = row), see :mod:`.fixations`.
Generated stimuli live here too: P³-style visual search arrays (:mod:`.search_arrays`).
"""
from __future__ import annotations

from .cat2000 import (CAT2000_PX_PER_DEGREE, CAT2000_SHAPE, CAT2000_SIGMA_DEG, CAT2000_SIGMA_PX,
                      cat2000_ids, load_cat2000_density, load_cat2000_fixation_map,
                      load_cat2000_fixations, load_cat2000_image)
from ._io import read_mat
from .catalog import DATASETS
from .errors import ChecksumError, DataFileError, DataNotFoundError
from .figrim import (FIGRIM_PX_PER_DEGREE, FIGRIM_SHAPE, FIGRIM_SIGMA_DEG, FIGRIM_SIGMA_PX,
                     FigrimRecord, category_masks, figrim_amusement_park_ids,
                     load_figrim_annotations, load_figrim_fixation_map, load_figrim_image,
                     polygon_mask)
from .fixations import Fixations
from .imagenet import (IMAGENET_SIZE, ImageNetRecord, imagenet_class_names,
                       imagenet_labels_agree, imagenet_val, imagenet_wnids, load_imagenet_image)
from .manifest import Entry, manifest
from .mit1003 import (MIT1003_PARTICIPANTS, MIT1003_PX_PER_DEGREE, MIT1003_SIGMA_DEG,
                      MIT1003_SIGMA_PX, load_mit1003_density, load_mit1003_fixations,
                      load_mit1003_demo, load_mit1003_image, mit1003_all_names, mit1003_ids)
from .osie import (OSIE_PX_PER_DEGREE, OSIE_SHAPE, OSIE_SIGMA_DEG, OSIE_SIGMA_PX,
                   load_osie_fixations, load_osie_image, osie_ids, osie_split, osie_splits, OSIE_N_VAL)
from .osie_attrs import OsieObjects, load_osie_attributes, osie_attributes_path
from .osie_sr import SEMANTIC_LABELS, load_osie_sr_example
from .popout import load_o3_example, load_p3_example
from .salicon import (SALICON_PX_PER_DEGREE, SALICON_SIGMA_DEG, SALICON_SIGMA_PX,
                      load_salicon_fixations, load_salicon_image, salicon_examples)
from .salicon_full import (SALICON_FULL_SHAPE, SALICON_FULL_SPLITS, load_salicon_full_density,
                           load_salicon_full_fixations, load_salicon_full_image, salicon_full_ids)
from .store import cache_dir, data_roots, ensure_dataset, fetch, locate, verify

__all__ = [
    # resolution, manifest, checksums
    "DATASETS", "Entry", "manifest", "fetch", "ensure_dataset", "verify", "locate", "data_roots",
    "cache_dir", "DataNotFoundError", "ChecksumError", "DataFileError", "read_mat",
    # fixations
    "Fixations",
    # OSIE
    "OSIE_SHAPE", "OSIE_PX_PER_DEGREE", "OSIE_SIGMA_DEG", "OSIE_SIGMA_PX", "osie_ids",
    "load_osie_image", "load_osie_fixations", "osie_split", "osie_splits", "OSIE_N_VAL", "OsieObjects",
    "load_osie_attributes", "osie_attributes_path",
    # MIT1003
    "MIT1003_PX_PER_DEGREE", "MIT1003_SIGMA_DEG", "MIT1003_SIGMA_PX", "MIT1003_PARTICIPANTS",
    "mit1003_ids", "mit1003_all_names", "load_mit1003_image", "load_mit1003_fixations",
    "load_mit1003_density", "load_mit1003_demo",
    # ImageNet
    "IMAGENET_SIZE", "ImageNetRecord", "imagenet_val", "load_imagenet_image",
    "imagenet_class_names", "imagenet_wnids", "imagenet_labels_agree",
    # SALICON
    "SALICON_PX_PER_DEGREE", "SALICON_SIGMA_DEG", "SALICON_SIGMA_PX", "salicon_examples",
    "load_salicon_image", "load_salicon_fixations",
    # full SALICON and CAT2000 (local copies only)
    "SALICON_FULL_SPLITS", "SALICON_FULL_SHAPE", "salicon_full_ids", "load_salicon_full_image",
    "load_salicon_full_fixations", "load_salicon_full_density",
    "CAT2000_SHAPE", "CAT2000_PX_PER_DEGREE", "CAT2000_SIGMA_DEG", "CAT2000_SIGMA_PX",
    "cat2000_ids", "load_cat2000_image", "load_cat2000_fixation_map", "load_cat2000_fixations",
    "load_cat2000_density",
    # pop-out
    "load_p3_example", "load_o3_example",
    # categories
    "SEMANTIC_LABELS", "load_osie_sr_example", "FIGRIM_SHAPE", "FIGRIM_PX_PER_DEGREE",
    "FIGRIM_SIGMA_DEG", "FIGRIM_SIGMA_PX", "FigrimRecord", "load_figrim_annotations",
    "polygon_mask", "category_masks", "figrim_amusement_park_ids", "load_figrim_image",
    "load_figrim_fixation_map",
]
