"""What a network's units and layers do: empirical receptive fields (:mod:`.receptive_fields`),
size tuning and surround suppression (:mod:`.surround`), network dissection with category masks
(:mod:`.dissection`), linear CKA (:mod:`.cka`), how much fine-tuning changes each layer
(:mod:`.layer_change`), head and text masks of any image from packaged detectors
(:mod:`.region_detectors`) and the measurements of chapter 4's task-vs-domain experiment
(:mod:`.task_domain`: activations of several networks on the same images, dissection tables,
per-image category evidence with its on-disk cache, saliency inside category regions).
"""
