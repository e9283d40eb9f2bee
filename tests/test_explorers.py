"""Explorers: the static figure and the widget draw the same selection; the four builders."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from saliency_utils.book.explorers import (Explorer, crosspaper_explorer, localisation_explorer,
    loggabor_explorer, lrp_explorer)


def _recording(panels=2):
    calls = []

    def draw(axes, sel):
        assert len(axes) == panels
        calls.append(dict(sel))
        axes[0].imshow(np.full((4, 4), sel["a"], dtype=float), vmin=0, vmax=3)

    return Explorer({"a": [1, 2, 3], "b": [("first", "x"), ("second", "y")]}, draw, panels), calls


def test_selection_defaults_and_errors():
    ex, _ = _recording()
    assert ex.selection() == {"a": 1, "b": "x"}
    assert ex.selection(b="y") == {"a": 1, "b": "y"}
    with pytest.raises(ValueError, match="not an option"):
        ex.selection(a=7)
    with pytest.raises(ValueError, match="unknown control"):
        ex.selection(c=1)
    with pytest.raises(ValueError, match="at least one option"):
        Explorer({"a": []}, lambda a, s: None, 1)
    with pytest.raises(ValueError, match="panels"):
        Explorer({"a": [1]}, lambda a, s: None, 0)


def test_figure_draws_one_row_per_selection():
    ex, calls = _recording()
    fig = ex.figure([{"a": 2}, {"a": 3, "b": "y"}])
    assert len(fig.axes) == 4
    assert calls == [{"a": 2, "b": "x"}, {"a": 3, "b": "y"}]
    # the image drawn in each row is the selected value
    assert fig.axes[0].images[0].get_array()[0, 0] == 2 and fig.axes[2].images[0].get_array()[0, 0] == 3
    plt.close(fig)
    with pytest.raises(ValueError):
        ex.figure([])


def test_widget_redraws_the_selection():
    pytest.importorskip("ipywidgets")
    ex, calls = _recording()
    w = ex.widget()
    assert calls == [{"a": 1, "b": "x"}] and ex.redraws == 1
    w.controls["a"].value = 3
    w.controls["b"].value = "y"
    assert calls[-2:] == [{"a": 3, "b": "x"}, {"a": 3, "b": "y"}] and ex.redraws == 3
    assert [o[0] for o in w.controls["b"].options] == ["first", "second"]
    plt.close("all")


# -- builders --------------------------------------------------------------------------------
def test_loggabor_explorer_shows_the_bank_energy():
    import torch

    from saliency_utils.explain.loggabor import LogGaborBank, opponent_channels
    bank = LogGaborBank(n_scales=2, n_orientations=2, min_wavelength=3.0)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    img.setflags(write=False)  # as images loaded from disk often are: no warning allowed
    ex = loggabor_explorer(bank, {"noise": img})
    assert [v for _, v in ex.options["scale"]] == [0, 1]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = ex.figure([{"channel": "RG", "scale": 1, "orientation": 1}])
    want = bank.energy(opponent_channels(torch.as_tensor(img.copy(), dtype=torch.float32)
                                         .permute(2, 0, 1)[None] / 255.0))[0, 1, 1, 1].numpy()
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), want, rtol=1e-5, atol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError):
        loggabor_explorer(bank, {})


@pytest.fixture(scope="module")
def lite0():
    from saliency_utils.models.backbones import load_backbone
    return load_backbone("efficientnet_lite0", device="cpu")


def test_localisation_and_lrp_explorers_on_real_images(bundle, lite0, one_thread):
    from saliency_utils import data
    from saliency_utils.explain import lrp
    recs = data.imagenet_val()[:2]
    names = data.imagenet_class_names()
    ex = localisation_explorer(lite0, recs, names)
    fig = ex.figure([{"image": 1}])
    assert len(fig.axes) == 5 and names[recs[1].label][:16] in fig.axes[0].get_title()
    assert "IoU hard" in fig.axes[4].get_title()
    plt.close(fig)
    can = lrp.canonise(lite0.model)
    lx = lrp_explorer(lite0, can, recs, names, {"LRP-0": "epsilon", "authors": "authors"})
    fig = lx.figure([{"image": 0, "class": "true"}])
    assert [a.get_title() for a in fig.axes[1:]] == ["LRP-0", "authors"]
    m = fig.axes[1].images[0].get_array()
    x = lite0.preprocess(data.load_imagenet_image(recs[0]))
    want = lrp.relevance_map(lrp.lrp(can, x, [recs[0].label], "epsilon").relevance, "sum")[0]
    np.testing.assert_allclose(m, want, rtol=1e-4, atol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError):
        lrp_explorer(lite0, can, recs, names, {})


def test_widget_image_is_the_figure_png():
    pytest.importorskip("ipywidgets")
    ex, _ = _recording()
    w = ex.widget()
    first = bytes(w.image.value)
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    w.controls["a"].value = 2
    assert bytes(w.image.value) != first and bytes(w.image.value) == ex.png({"a": 2, "b": "x"})


def test_crosspaper_explorer_reference_maps_boxes_and_lazy_examples():
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    fixations = SimpleNamespace(shape=(20, 30), x=np.array([3.0, 10.0]), y=np.array([4.0, 8.0]))
    density = rng.random((20, 30))
    fix_ex = {"dataset": "osie_test", "image": rng.integers(0, 256, (20, 30, 3), dtype=np.uint8),
              "fixations": fixations, "density": density, "target": 1,
              "maps": {"a": rng.random((20, 30))}}  # map "b" could not be computed
    box_ex = {"dataset": "imagenet", "image": rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
              "record": SimpleNamespace(boxes=np.array([[4.0, 4, 20, 20]])),
              "boxes": np.array([[2.0, 2, 10, 10]]), "target": 0,
              "maps": {"a": rng.random((16, 16)), "b": rng.random((16, 16))}}
    made = []
    ex = crosspaper_explorer({"fix": fix_ex, "box": lambda: made.append(1) or box_ex}, ["a", "b"],
                             names=["cat", "dog"])
    assert made == []  # computed only when shown
    fig = ex.figure([{"image": "fix"}, {"image": "box"}, {"image": "box"}])
    assert made == [1]  # and then cached
    axes = fig.axes
    assert len(axes) == 3 * 4
    np.testing.assert_allclose(axes[1].images[0].get_array(), density)  # the reference
    assert "dog" in axes[0].get_title() and len(axes[0].collections) == 1  # fixations
    assert "not computable" in axes[3].get_title() and not axes[3].images
    # ImageNet: the boxes' area as reference, boxes drawn on every map
    ref = np.asarray(axes[5].images[0].get_array())
    assert ref.shape == (16, 16) and ref[5, 5] and not ref[12, 12]
    assert all(len(ax.patches) == 1 for ax in axes[4:8] if ax is not axes[5])
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        crosspaper_explorer({}, ["a"])
    bad = crosspaper_explorer({"x": {"image": 1}}, ["a"])
    with pytest.raises(ValueError, match="example dict"):
        bad.figure([{"image": "x"}])
