"""Training and the on-disk cache of trained models: the deep saliency model (:mod:`.saliency`:
presets, data, loss, loop, checkpoints keyed by their full configuration), fine-tuning the same
encoder for a classification task (:mod:`.classification`: chapter 3's rotation control) and
chapter 4's controlled fine-tunings that differ in one factor, the objective (:mod:`.controlled`).
"""
