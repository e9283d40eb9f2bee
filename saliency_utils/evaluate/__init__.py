"""Scoring maps and boxes, and the statistics behind every verdict: fixation and density maps
(:mod:`.maps`), the fixation metrics (:mod:`.metrics`), one scorer of maps on an eye-tracking
dataset (:mod:`.scoring`), the centre-bias and inter-observer anchors (:mod:`.anchors`), the saliency
model judged as a model (:mod:`.model_quality`), box scores (:mod:`.boxes`), localisation from a
map (:mod:`.localisation`) and over a dataset (:mod:`.wsol`), faithfulness curves
(:mod:`.faithfulness`), search-array measures (:mod:`.search_metrics`), confidence intervals and
tests (:mod:`.stats`) and the command line that scores a user's maps (:mod:`.cli`,
``python -m saliency_utils evaluate``).
"""
