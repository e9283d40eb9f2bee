"""Viewing geometry per dataset: pixels per degree of visual angle and density-map sigma.

Fixation density maps are blurred with a Gaussian of about one degree of visual angle;
``*_SIGMA_PX = sigma_px(*_SIGMA_DEG, *_PX_PER_DEGREE)`` is that sigma in pixels of the images as
stored. Values marked ASSUMPTION are not stated in a source we could check; they follow the
authors' code, and are the ones to revisit if a paper's viewing conditions are confirmed.
"""
from __future__ import annotations

from saliency_utils.evaluate.maps import sigma_px

__all__ = [
    "OSIE_PX_PER_DEGREE", "OSIE_SIGMA_DEG", "OSIE_SIGMA_PX",
    "MIT1003_PX_PER_DEGREE", "MIT1003_SIGMA_DEG", "MIT1003_SIGMA_PX",
    "SALICON_PX_PER_DEGREE", "SALICON_SIGMA_DEG", "SALICON_SIGMA_PX",
    "FIGRIM_PX_PER_DEGREE", "FIGRIM_SIGMA_DEG", "FIGRIM_SIGMA_PX",
]

# OSIE (800x600 images). The authors' code (NUS-VIP/predicting-human-gaze-beyond-pixels,
# src/common/config.m: params.eye.radius = 24, used as the Gaussian sigma of their fixation maps
# in src/dataset/computeFixationMaps.m) blurs with sigma = 24 px. ASSUMPTION: that sigma is one
# degree, i.e. 24 px/deg; the paper's monitor size and viewing distance were not checked here.
OSIE_PX_PER_DEGREE = 24.0
OSIE_SIGMA_DEG = 1.0
OSIE_SIGMA_PX = sigma_px(OSIE_SIGMA_DEG, OSIE_PX_PER_DEGREE)

# MIT1003 (longest side 1024 px). Benchmark convention: sigma = 1 degree ~ 35 px (MIT saliency
# benchmark's antonioGaussian cut-off of 8 cycles/image; pysaliency uses sigma = 35 px), see
# notes/papers.md section 1. Judd et al.'s own code (DatabaseCode/checkFixations.m) states
# pxPerDeg = 34 for their set-up: 1024x768 px on 40.5x30 cm seen from 75 cm.
MIT1003_PX_PER_DEGREE = 35.0
MIT1003_SIGMA_DEG = 1.0
MIT1003_SIGMA_PX = sigma_px(MIT1003_SIGMA_DEG, MIT1003_PX_PER_DEGREE)

# SALICON (640x480). Mouse tracking on Amazon Mechanical Turk: there is no controlled viewing
# distance. The SALICON API (NUS-VIP/salicon-api, PythonAPI/salicon/salicon.py, buildFixMap)
# blurs with sigma = 19 px. ASSUMPTION: those 19 px are treated as one "degree".
SALICON_PX_PER_DEGREE = 19.0
SALICON_SIGMA_DEG = 1.0
SALICON_SIGMA_PX = sigma_px(SALICON_SIGMA_DEG, SALICON_PX_PER_DEGREE)

# FIGRIM (1000x1000). The authors' code (cvzoya/figrim, compMapsLocsForImage.m) blurs the
# fixation locations with run_antonioGaussian(fixLocs, 33), sigma = 33 px. ASSUMPTION: one degree.
FIGRIM_PX_PER_DEGREE = 33.0
FIGRIM_SIGMA_DEG = 1.0
FIGRIM_SIGMA_PX = sigma_px(FIGRIM_SIGMA_DEG, FIGRIM_PX_PER_DEGREE)
