"""Explanations of a network's output or units. Every map of the book comes from one verb,
:func:`explain` in :mod:`.api` (and its ``Explanations`` for several maps of the same
inputs), which routes to the modules here and to the saliency models: gradient attributions through captum
(:mod:`.attribution`), layer-wise relevance propagation (:mod:`.lrp`), the context-aware Salient
Relevance maps of relevance (:mod:`.context_saliency`), class models (:mod:`.classviz`), feature
visualisation of single units (:mod:`.feature_viz`), the log-Gabor filter bank (:mod:`.loggabor`),
the log-Gabor reconstruction of a saliency model's activations (:mod:`.loggabor_explain`) and its
matched control filter banks (:mod:`.feature_controls`).
"""
