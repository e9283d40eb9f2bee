"""What each dataset of the offline bundle is, where it comes from, and its licence.

``source`` is the public repository and commit every file was copied from (the same as in the
manifest; a test checks they agree). ``licence`` says what the source repository states; where it
states none, the data are research data published by their authors: cite them as given.
"""
from __future__ import annotations

__all__ = ["DATASETS"]

_NO_LICENCE = "no licence file in the source repository; research data, cite as given"

DATASETS: dict[str, dict[str, str]] = {
    "osie": {
        "description": "OSIE: 700 images (800x600), eye fixations of 15 observers, 3 s free viewing",
        "source": "NUS-VIP/predicting-human-gaze-beyond-pixels@4a467890fcb40a2fec04cdded552760942bac7a4",
        "licence": "MIT (LICENSE in the source repository)",
        "citation": "Xu, Jiang, Wang, Kankanhalli, Zhao. Predicting human gaze beyond pixels. "
                    "Journal of Vision 14(1):28, 2014.",
    },
    "mit1003": {
        "description": "MIT1003: 100 of the 1003 stimuli and the benchmark's fixation density maps "
                       "of all 1003 images (MIT saliency benchmark code repository)",
        "source": "cvzoya/saliency@5951cdc7c2ba73e5951d4c36bea58e8c7d41e55d",
        "licence": _NO_LICENCE,
        "citation": "Judd, Ehinger, Durand, Torralba. Learning to predict where humans look. ICCV 2009; "
                    "Bylinskii, Judd, Oliva, Torralba, Durand. What do different evaluation metrics "
                    "tell us about saliency models? arXiv:1604.03605 / TPAMI 2019.",
    },
    "mit1003_fixations": {
        "description": "Discrete fixations of all 1003 MIT1003 images, 15 observers, re-detected from "
                       "the raw MIT1003 eye data (R data frame, 112,344 rows)",
        "source": "HeHuangDortmund/STASA_ms@bd7cfe6aff86b766d8ac1f6d3bece5f47d956fe2",
        "licence": _NO_LICENCE,
        "citation": "Judd et al., ICCV 2009 (the eye data); the STASA_ms repository (fixation detection).",
    },
    "salicon_examples": {
        "description": "10 SALICON training images (MS-COCO, 640x480) with their raw mouse-tracking "
                       "points (not eye fixations)",
        "source": "NUS-VIP/salicon-api@b4a7af9112006b85b55a6567d8da9be1165da890",
        "licence": "no licence file; images are MS-COCO / Flickr images under the Creative Commons "
                   "licences listed per image in the JSON",
        "citation": "Jiang, Huang, Duan, Zhao. SALICON: Saliency in context. CVPR 2015; "
                    "Lin et al. Microsoft COCO. ECCV 2014.",
    },
    "osie_sr_example": {
        "description": "OSIE image 1023 with instance-region mask, semantic labels and binary "
                       "fixation map (He et al. CVPR 2019 demo)",
        "source": "SenHe/uavdvsm@211ce07b1819ede3ac9beeeb30bbb6ab9453ec9c",
        "licence": _NO_LICENCE,
        "citation": "He, Tavakoli, Borji, Mi, Pugeault. Understanding and visualizing deep visual "
                    "saliency models. CVPR 2019.",
    },
    "figrim_annotations": {
        "description": "FIGRIM: LabelMe polygons and per-observer fixations of 630 target images "
                       "(1000x1000, 21 scene categories)",
        "source": "cvzoya/figrim@725dc8b77dd780850ca1197b6db12c8fc7c5f024",
        "licence": _NO_LICENCE,
        "citation": "Bylinskii, Isola, Bainbridge, Torralba, Oliva. Intrinsic and extrinsic effects "
                    "on image memorability. Vision Research 116:165-178, 2015.",
    },
    "figrim_amusement_park": {
        "description": "30 FIGRIM target images (amusement_park) with binary fixation-location maps",
        "source": "pippanonna/VisualAttention@f5142ef0d4d593f53efb1a7a058b9596dcfded78",
        "licence": _NO_LICENCE,
        "citation": "Bylinskii et al., Vision Research 2015 (FIGRIM).",
    },
    "imagenet_val": {
        "description": "1300 ILSVRC2012 validation images pre-resized to 227x227 (725 classes) "
                       "with labels in the torchvision/caffe class order",
        "source": "VeriSilicon/acuity-dataset@aded2e9f22cd8fe0745aa57356c68cb95457aad9",
        "licence": "ImageNet terms of access (non-commercial research and education); "
                   "no licence file in the source repository",
        "citation": "Russakovsky et al. ImageNet Large Scale Visual Recognition Challenge. IJCV 2015.",
    },
    "imagenet_boxes": {
        "description": "Ground-truth boxes, labels and original sizes of all 50,000 ILSVRC2012 "
                       "validation images (wsolevaluation metadata)",
        "source": "clovaai/wsolevaluation@96f4b88679af41f005824661f47e6fe3628af2aa",
        "licence": "MIT (LICENSE in the source repository)",
        "citation": "Choe, Oh, Lee, Chun, Akata, Shim. Evaluating weakly supervised object "
                    "localization methods right. CVPR 2020; Russakovsky et al., IJCV 2015.",
    },
    "popout_p3o3": {
        "description": "One P3 colour pop-out search array and one O3 photo with target/distractor "
                       "masks and DeepGaze II maps",
        "source": "ykotseruba/P3O3_metrics@28a98c0857924dcc16070a9da82089f3816e5274",
        "licence": "Apache-2.0 (LICENSE in the source repository)",
        "citation": "Kotseruba, Wloka, Rasouli, Tsotsos. Do saliency models detect odd-one-out "
                    "targets? New datasets and evaluations. BMVC 2019.",
    },
}
