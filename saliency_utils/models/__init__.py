"""Networks: what the book knows about each backbone architecture (:mod:`.architectures`: layer
names, encoder stages, BatchNorm pairs, randomisation order, preprocessing), the ImageNet
backbones behind one loader (:mod:`.backbones`, with the offline EfficientNet-Lite networks of
:mod:`.efficientnet_lite`), the book's deep saliency model (:mod:`.saliency_model`) and its
loader for a folder of images (:mod:`.predict`, ``python -m saliency_utils predict``), the
classical saliency models (:mod:`.classical`) and a paper's own model, UNISAL (:mod:`.unisal`).
"""
