"""Browsable views of a chapter's results, and the static figure the rendered page shows.

An :class:`Explorer` is a drawing function of a *selection* (one value per control) plus the
options of each control. :meth:`Explorer.figure` draws several selections as the rows of one
matplotlib figure: that is what the rendered book shows, because widgets are dead without a
kernel. :meth:`Explorer.widget` returns ipywidgets controls that redraw the same function for
the reader's selection in Jupyter or Colab. The static figure and the widget therefore always
show the same computation.

Four explorers of the book are built here:

* :func:`localisation_explorer` (chapter 1): an ImageNet image's gradient map, GrabCut seeds,
  the segmented components of both seed readings and the boxes;
* :func:`lrp_explorer` (chapter 2): one image's relevance under several LRP rule sets;
* :func:`loggabor_explorer` (chapter 5): one log-Gabor filter (scale, orientation) and its
  energy on an opponent colour channel of an image;
* :func:`crosspaper_explorer` (chapter 6): every map of the book on one image beside the human
  fixation density or the object boxes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

__all__ = ["Explorer", "localisation_explorer", "lrp_explorer", "loggabor_explorer",
           "crosspaper_explorer"]


def _options(opts) -> list[tuple[str, object]]:
    out = []
    for o in opts:
        if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str):
            out.append(o)
        else:
            out.append((str(o), o))
    if not out:
        raise ValueError("a control needs at least one option")
    return out


@dataclass
class Explorer:
    """``controls``: control name -> options (values, or ``(label, value)`` pairs);
    ``draw(axes, selection)``: draws one selection (a dict control -> value) into ``panels``
    axes."""

    controls: Mapping[str, Sequence]
    draw: Callable[[Sequence, dict], None]
    panels: int
    panel_size: tuple[float, float] = (2.4, 2.4)

    def __post_init__(self):
        if self.panels < 1:
            raise ValueError(f"panels must be >= 1, got {self.panels}")
        self.options = {k: _options(v) for k, v in self.controls.items()}
        if not self.options:
            raise ValueError("an explorer needs at least one control")

    def selection(self, **chosen) -> dict:
        """A full selection: the first option of each control, updated with ``chosen``.
        Raises ``ValueError`` for an unknown control or a value that is not an option."""
        unknown = set(chosen) - set(self.options)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; known: {list(self.options)}")
        sel = {k: v[0][1] for k, v in self.options.items()}
        for k, value in chosen.items():
            values = [v for _, v in self.options[k]]
            if not any(value is v or value == v for v in values):
                raise ValueError(f"{value!r} is not an option of {k!r}; options: "
                                 f"{[label for label, _ in self.options[k]]}")
            sel[k] = value
        return sel

    def figure(self, selections: Sequence[Mapping]):
        """One row per selection (each completed by :meth:`selection`); returns the figure."""
        import matplotlib.pyplot as plt

        if len(selections) == 0:
            raise ValueError("give at least one selection")
        sels = [self.selection(**dict(s)) for s in selections]
        w, h = self.panel_size
        fig, axes = plt.subplots(len(sels), self.panels, figsize=(w * self.panels, h * len(sels)),
                                 squeeze=False)
        for r, sel in enumerate(sels):
            for ax in axes[r]:
                ax.set_xticks([]), ax.set_yticks([])
            self.draw(list(axes[r]), sel)
        fig.tight_layout()
        return fig

    def png(self, selection: Mapping) -> bytes:
        """:meth:`figure` of one selection as PNG bytes (the figure is closed)."""
        import io

        import matplotlib.pyplot as plt

        fig = self.figure([selection])
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        finally:
            plt.close(fig)
        return buf.getvalue()

    def widget(self):
        """ipywidgets controls (a dropdown per control) above an image of :meth:`figure` for
        the current selection, redrawn on every change. The figure is sent as a PNG image
        widget rather than captured in an ``Output`` widget, so the same code works in
        Jupyter, Colab and headless execution."""
        import ipywidgets as widgets

        drops = {k: widgets.Dropdown(options=opts, value=opts[0][1], description=k,
                                     style={"description_width": "initial"})
                 for k, opts in self.options.items()}
        image = widgets.Image(format="png")
        self.redraws = 0

        def redraw(_change=None):
            image.value = self.png({k: d.value for k, d in drops.items()})
            self.redraws += 1

        for d in drops.values():
            d.observe(redraw, names="value")
        redraw()
        box = widgets.VBox([widgets.HBox(list(drops.values())), image])
        box.controls, box.image = drops, image
        return box


# ------------------------------------------------------------------------------ chapter 1
def localisation_explorer(backbone, records: Sequence, names: Sequence[str]) -> Explorer:
    """Chapter 1's pipeline for one ImageNet record (true class): the gradient map (clipped at
    its 99th percentile for display), the GrabCut seeds (red foreground: top 5 %, blue
    background: bottom 30 %), the component segmented with hard and with soft seeds, and the
    boxes (green: ground truth, red: hard seeds, orange: soft seeds, cyan: blurred gradient above
    20 % of its maximum) with their IoU."""
    from scipy import ndimage

    from saliency_utils import data
    from saliency_utils.explain.api import explain
    from saliency_utils.evaluate import boxes, localisation, wsol
    from saliency_utils.book import plotting
    from saliency_utils.evaluate.maps import resize_map

    if len(records) == 0:
        raise ValueError("no records given")

    def draw(a, sel):
        r = records[sel["image"]]
        img = data.load_imagenet_image(r)
        s = explain(backbone, img, "gradient", [r.label])[0]
        s = resize_map(s, img.shape[:2])
        seeds = localisation.grabcut_seeds(s)
        seed_rgb = np.zeros((*s.shape, 3))
        seed_rgb[seeds == 1] = (1, 0, 0)
        seed_rgb[seeds == 0] = (0, 0, 1)
        hard_box, hard_mask = localisation.saliency_box(img, s)
        try:
            soft_box, soft_mask = wsol.saliency_box_soft_seeds(img, s)
        except ValueError:  # no usable seed model: shown as empty
            soft_box, soft_mask = None, np.zeros(s.shape, bool)
        blur_box = localisation.threshold_box(ndimage.gaussian_filter(s, 7), 0.2)
        plotting.show_image(a[0], np.minimum(s, np.percentile(s, 99)), f"map: {names[r.label][:16]}",
                            cmap="gray")
        plotting.show_image(a[1], seed_rgb, "seeds: fg ≥ 95 %, bg ≤ 30 %")
        plotting.show_image(a[2], img * hard_mask[..., None], "hard seeds: component")
        plotting.show_image(a[3], img * soft_mask[..., None], "soft seeds: component")
        iou = lambda b: f"{max(boxes.iou(b, g) for g in r.boxes):.2f}" if b is not None else "none"
        plotting.show_image(a[4], img, f"IoU hard {iou(hard_box)}, soft {iou(soft_box)}, "
                                       f"blur {iou(blur_box)}")
        a[4].title.set_fontsize(7)
        a[4].set_xlim(-2, img.shape[1] + 1), a[4].set_ylim(img.shape[0] + 1, -2)
        plotting.draw_boxes(a[4], r.boxes, color="lime", lw=2)
        for b, col in [(hard_box, "red"), (soft_box, "orange"), (blur_box, "cyan")]:
            if b is not None:
                plotting.draw_boxes(a[4], [b], color=col, lw=1.2)

    opts = [(f"{i}: {names[r.label][:30]}", i) for i, r in enumerate(records)]
    return Explorer({"image": opts}, draw, panels=5)


# ------------------------------------------------------------------------------ chapter 2
def lrp_explorer(backbone, canonical, records: Sequence, names: Sequence[str],
                 composites: Mapping[str, object], low=None, high=None) -> Explorer:
    """One ImageNet record and its relevance (summed over colour channels; red positive, blue
    negative, scale: 99.5th percentile of |R|) under each of ``composites`` (label ->
    :func:`saliency_utils.explain.lrp.lrp` composite), for the true or the predicted class. Results are
    cached per (image, class)."""
    from functools import lru_cache

    from saliency_utils import data
    from saliency_utils.explain.api import Explanations
    from saliency_utils.book import plotting

    if len(records) == 0 or not composites:
        raise ValueError("give records and at least one composite")
    labels = list(composites)

    @lru_cache(maxsize=32)
    def relevance(i: int, which: str):
        r = records[i]
        target = None if which == "predicted" else [r.label]
        ex = Explanations(backbone, data.load_imagenet_image(r), target, canonical=canonical)
        return {k: (ex.map("lrp", composite=composites[k], low=low, high=high, mode="sum")[0],
                    int(ex.relevance(composites[k], low, high).targets[0])) for k in labels}

    def draw(a, sel):
        r = records[sel["image"]]
        rel = relevance(sel["image"], sel["class"])
        t = rel[labels[0]][1]
        plotting.show_image(a[0], data.load_imagenet_image(r),
                            f"{'✓' if t == r.label else '✗'} {names[t][:18]}")
        for ax, k in zip(a[1:], labels):
            m = rel[k][0]
            v = float(np.percentile(np.abs(m), 99.5)) or 1.0
            ax.imshow(m, cmap="bwr", vmin=-v, vmax=v)
            ax.set_title(k, fontsize=7)

    opts = [(f"{i}: {names[r.label][:30]}", i) for i, r in enumerate(records)]
    return Explorer({"image": opts, "class": ["true", "predicted"]}, draw,
                    panels=1 + len(labels))


# ------------------------------------------------------------------------------ chapter 5
def loggabor_explorer(bank, images: Mapping[str, np.ndarray]) -> Explorer:
    """One log-Gabor filter of ``bank`` (a :class:`saliency_utils.explain.loggabor.LogGaborBank`): its
    even (real) impulse response, the opponent colour channel of the image it filters, and the
    local energy of that channel at the filter's scale and orientation. ``images``: label ->
    uint8 RGB image. Energies are cached per image."""
    from functools import lru_cache

    import torch

    from saliency_utils.book import plotting
    from saliency_utils.explain.loggabor import OPPONENT_CHANNELS, opponent_channels

    if not images:
        raise ValueError("give at least one image")

    @lru_cache(maxsize=8)
    def energy(label: str):
        img = np.array(images[label], dtype=np.float32)  # a writable copy for torch
        rgb = torch.from_numpy(img).permute(2, 0, 1)[None] / 255.0
        opp = opponent_channels(rgb)
        return opp[0].numpy(), bank.energy(opp)[0].numpy()  # C x H x W, C x S x O x H x W

    wl, ori = bank.wavelengths, np.degrees(bank.orientations)

    def draw(a, sel):
        opp, e = energy(sel["image"])
        c, s, o = OPPONENT_CHANNELS.index(sel["channel"]), sel["scale"], sel["orientation"]
        k = np.fft.fftshift(bank.spatial_kernels((65, 65))[s, o].real)
        v = float(np.abs(k).max()) or 1.0
        a[0].imshow(k, cmap="RdBu_r", vmin=-v, vmax=v)
        a[0].set_title(f"filter: λ = {wl[s]:.1f} px, θ = {ori[o]:.0f}°", fontsize=7)
        plotting.show_image(a[1], opp[c], f"{sel['image']}: channel {sel['channel']}", cmap="gray")
        a[1].title.set_fontsize(7)
        plotting.show_image(a[2], e[c, s, o], "local energy", cmap="inferno")

    return Explorer({"image": list(images), "channel": list(OPPONENT_CHANNELS),
                     "scale": [(f"λ = {v:.1f} px", i) for i, v in enumerate(wl)],
                     "orientation": [(f"θ = {v:.0f}°", i) for i, v in enumerate(ori)]},
                    draw, panels=3)


# ------------------------------------------------------------------------------ chapter 6
def crosspaper_explorer(examples: Mapping[str, object], methods: Sequence[str],
                        names: Sequence[str] | None = None) -> Explorer:
    """Every map of chapter 6 for one image, beside its reference: ``examples`` maps a label to
    an example dict of :func:`saliency_utils.book.crosspaper.fixation_example` or
    :func:`~saliency_utils.book.crosspaper.box_example` (the scorers' ``examples`` have the same
    keys), or to a callable returning one (computed on first view, then cached). Panels: the
    image (yellow dots: fixations; green: object boxes), the reference (the human fixation
    density, or the boxes' area on ImageNet), then each of ``methods`` (classifier maps blurred
    by one degree, every map scaled to a maximum of 1, with the boxes on ImageNet). A map that
    could not be computed for the image is a blank panel saying so. ``names``: class names for
    the titles (the explained class)."""
    from saliency_utils.book import plotting
    from saliency_utils.evaluate.boxes import box_union_mask

    if not examples or len(methods) == 0:
        raise ValueError("give at least one example and one method")
    labels = list(examples)
    cache: dict[str, dict] = {}

    def example(label: str) -> dict:
        if label not in cache:
            e = examples[label]
            e = e() if callable(e) else e
            if not isinstance(e, Mapping) or not {"image", "maps", "dataset"} <= set(e):
                raise ValueError(f"{label!r}: not an example dict (image, maps, dataset)")
            cache[label] = e
        return cache[label]

    def draw(a, sel):
        e = example(sel["image"])
        img, box = e["image"], e["dataset"] == "imagenet"
        cls = e.get("target", -1)
        title = sel["image"] + (f"\n→ {names[cls][:18]}" if names is not None and cls >= 0 else "")
        plotting.show_image(a[0], img, title)
        if box:
            plotting.draw_boxes(a[0], e["record"].boxes, lw=0.8)
            ref = box_union_mask(e["boxes"], next(iter(e["maps"].values())).shape
                                 if e["maps"] else img.shape[:2])
            plotting.show_image(a[1], ref, "object boxes", cmap="gray")
        else:
            f = e["fixations"]
            sy, sx = img.shape[0] / f.shape[0], img.shape[1] / f.shape[1]
            plotting.draw_fixations(a[0], np.asarray(f.x) * sx, np.asarray(f.y) * sy, size=1.5)
            plotting.show_image(a[1], e["density"], "people (fixation density)", cmap="inferno")
        for ax, m in zip(a[2:], methods):
            if m not in e["maps"]:
                ax.set_axis_off()
                ax.set_title(f"{m}: not computable", fontsize=6)
                continue
            plotting.show_image(ax, e["maps"][m], m, cmap="inferno")
            if box:
                plotting.draw_boxes(ax, e["boxes"], lw=0.8)
        for ax in a:
            ax.title.set_fontsize(6)

    return Explorer({"image": labels}, draw, panels=2 + len(methods), panel_size=(1.55, 1.4))
