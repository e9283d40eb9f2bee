"""Explanations of a network's output or units: gradient attributions through captum
(:mod:`.attribution`), layer-wise relevance propagation (:mod:`.lrp`), the context-aware Salient
Relevance maps of relevance (:mod:`.context_saliency`), class models (:mod:`.classviz`), feature
visualisation of single units (:mod:`.feature_viz`), the log-Gabor filter bank (:mod:`.loggabor`),
the log-Gabor reconstruction of a saliency model's activations (:mod:`.loggabor_explain`) and its
matched control filter banks (:mod:`.feature_controls`).
"""
