"""UNISAL's model definition (rdroste/unisal, Apache-2.0; see LICENSE and NOTICE here), static
images only. Use it through :mod:`saliency_utils.models.unisal`, which loads the released weights."""
from .model import UNISAL

__all__ = ["UNISAL"]
