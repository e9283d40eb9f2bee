"""Size tuning and planted units (saliency_utils.analysis.surround): the probe recovers planted surrounds
on natural-image-like (1/f) inputs, measures nothing where none is planted, and its cache keeps
exactly what was measured."""
import numpy as np
import pytest
import torch

from saliency_utils.analysis.receptive_fields import Unit
from saliency_utils.analysis.surround import (PlantedUnits, choose_units, disc_masks, kernel_field,
    kernel_ssi, planted_population, readout_weight, size_tuning, stimulus_centres,
    suppression_index)

RADII = (8, 16, 32, 64)


def pink_images(n, h=96, w=128, seed=0):
    """1/f noise images (3 channels, correlated across channels), unit SD."""
    rng = np.random.default_rng(seed)
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    out = []
    for _ in range(n):
        base = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(h, w))) / f))
        chans = [base + 0.5 * np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(h, w))) / f))
                 for _ in range(3)]
        img = np.stack(chans)
        out.append((img - img.mean()) / img.std())
    return torch.tensor(np.stack(out), dtype=torch.float32)


def planted(kind, n=8, seed=0):
    k, params = planted_population(n, kind, seed=seed, sigma_range=(2.0, 4.0))
    net = PlantedUnits(k, stride=16)
    return net, k, [Unit("planted", i) for i in range(n)]


def test_centres_masks_and_index():
    c = stimulus_centres((90, 120), 2, 3)
    assert c.shape == (6, 2) and (c[:, 0] == 22.5).sum() == 3 and c[:, 1].min() == 20
    m = disc_masks((90, 120), c[:1], (10, 20), edge=4)
    assert m.shape == (1, 2, 90, 120)
    assert m[0, 0, 22, 20] == 1 and m[0, 0, 22, 50] == 0 and 0 < m[0, 0, 22, 30] < 1
    assert m[0, 1].sum() > m[0, 0].sum()
    assert suppression_index([0.2, 0.5, 1.0, 1.0]) == 0
    assert suppression_index([0.5, 1.0, 0.6]) == pytest.approx(0.4)
    assert np.isnan(suppression_index([0.0, -1.0, 0.0]))
    assert np.isnan(suppression_index([np.nan, np.nan]))
    with pytest.raises(ValueError, match=">= 2 values"):
        suppression_index([1.0])
    with pytest.raises(ValueError, match="positive"):
        disc_masks((9, 9), c[:1], (0,))


def test_kernel_truth():
    k_dog, p = planted_population(3, "dog", seed=0)
    k_c, _ = planted_population(3, "centre", seed=0)
    k_op, _ = planted_population(3, "opponent", seed=0)
    radii = (16, 32, 64, 128)
    for i in range(3):
        assert kernel_ssi(k_c[i], radii) == pytest.approx(0, abs=1e-6)
        # the surround takes away up to its share of the centre's volume (less where the probe's
        # smallest disc already reaches into it)
        assert 0.5 * p[i]["strength"] < kernel_ssi(k_dog[i], radii) <= p[i]["strength"]
        assert kernel_ssi(k_op[i], radii) == pytest.approx(kernel_ssi(k_dog[i], radii), abs=1e-6)
    assert np.allclose(k_op[:, 2], 0) and (k_op[:, 0] == -k_op[:, 1]).all()
    with pytest.raises(ValueError, match="unknown kind"):
        planted_population(2, "gabor")


def test_size_tuning_recovers_planted_surrounds():
    x = pink_images(12)
    ssi = {}
    for kind in ("centre", "dog", "opponent"):
        net, k, units = planted(kind)
        res = size_tuning(net, x, {"planted": net}, units, RADII, k=6)
        assert res.n_forward == 12 * (6 * len(RADII) + 1)
        ssi[kind] = np.array([res.ssi(u) for u in units])
        assert np.isfinite(ssi[kind]).all()
        rows = res.table()
        assert len(rows) == len(units) and all(r["k"] == 6 for r in rows)
    # no surround, no suppression
    assert np.abs(ssi["centre"]).max() < 1e-9
    # every planted surround unit is suppressed; less than for a uniform disc (its best stimuli
    # are those whose surround does not oppose the centre: the selection the chapter's control
    # measures on the real images), but clearly
    for kind in ("dog", "opponent"):
        assert (ssi[kind] > 0).all() and ssi[kind].mean() > 0.08
        truth = np.array([kernel_ssi(k, RADII) for k in planted(kind)[1]])
        assert (ssi[kind] < truth).all()


def test_size_tuning_is_deterministic_and_cached(tmp_path):
    x = pink_images(4, seed=1)
    net, _, units = planted("dog", n=3)
    a = size_tuning(net, x, {"planted": net}, units, RADII, k=3)
    b = size_tuning(net, x, {"planted": net}, units, RADII, k=3, cache_dir=tmp_path)
    (f,) = tmp_path.glob("size_tuning-*.npz")
    c = size_tuning(net, x, {"planted": net}, units, RADII, k=3, cache_dir=tmp_path)
    for u in units:
        assert np.array_equal(a.responses[u], b.responses[u])
        assert np.array_equal(a.responses[u], c.responses[u])
        assert a.stimuli[u] == c.stimuli[u]
    assert c.seconds == b.seconds  # read back, not measured again
    # another setting is another key
    size_tuning(net, x, {"planted": net}, units, RADII[:3], k=3, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("size_tuning-*.npz"))) == 2
    # a corrupt file is measured again and replaced
    f.write_bytes(b"not a npz")
    d = size_tuning(net, x, {"planted": net}, units, RADII, k=3, cache_dir=tmp_path)
    assert np.array_equal(d.responses[units[0]], a.responses[units[0]])
    assert not list(tmp_path.glob("*.tmp*"))


def test_size_tuning_bad_input_and_silent_units():
    x = pink_images(2)
    net, _, units = planted("centre", n=2)
    mods = {"planted": net}
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        size_tuning(net, x[:, :1], mods, units, RADII)
    with pytest.raises(ValueError, match="k must be between"):
        size_tuning(net, x, mods, units, RADII, k=13)
    with pytest.raises(ValueError, match="not in modules"):
        size_tuning(net, x, mods, [Unit("head", 0)], RADII, k=2)
    with pytest.raises(ValueError, match="has 2 channels"):
        size_tuning(net, x, mods, [Unit("planted", 5)], RADII, k=2)
    with pytest.raises(ValueError, match="no units"):
        size_tuning(net, x, mods, [], RADII, k=2)
    # a unit that nothing drives: kept, NaN index, listed as silent
    k, _ = planted_population(1, "centre")
    dead = PlantedUnits(np.concatenate([k, -1e-3 * np.abs(k)]), stride=16)
    dead.conv.weight.data[1] = -dead.conv.weight.data[1].abs()
    res = size_tuning(dead, torch.ones_like(x), {"planted": dead}, [Unit("planted", 0), Unit("planted", 1)],
                      RADII, k=2)
    assert res.silent == [Unit("planted", 1)] and np.isnan(res.ssi(Unit("planted", 1)))


def test_choose_units_and_readout_weight():
    active = {"l": np.array([True] * 8 + [False] * 2)}
    w = np.arange(10.0)
    us = choose_units([active], "l", 4, weight=w, seed=0)
    chans = [u.channel for u in us]
    assert len(us) == 4 and {6, 7} <= set(chans) and max(chans) < 8
    assert choose_units([active], "l", 4, weight=w, seed=0) == us
    assert len(choose_units([active], "l", 20)) == 8
    # only channels active in every network
    other = {"l": np.array([True, False] * 5)}
    assert [u.channel for u in choose_units([active, other], "l", 20)] == [0, 2, 4, 6]
    with pytest.raises(ValueError, match="no channel active"):
        choose_units([{"l": np.zeros(3, bool)}], "l", 2)
    from saliency_utils.models.saliency_model import SaliencyModel
    model = SaliencyModel("efficientnet_lite0", weights="default", readout_layers=["stage3", "head"],
                          readout_hidden=4, centre_bias="none", input_size=(64, 64), device="cpu")
    with torch.no_grad():
        model.readout[0].weight.zero_()
        model.readout[0].weight[:, 40 + 3] = 1.0  # head channel 3 (stage3 has 40 channels)
    w_head = readout_weight(model, "head")
    assert w_head.shape == (1280,) and np.argmax(w_head) == 3 and w_head[3] == pytest.approx(2.0)
    assert readout_weight(model, "stage3").max() == 0
    with pytest.raises(ValueError, match="does not read"):
        readout_weight(model, "stage5")


def test_kernel_field_samples_the_kernel_on_the_occlusion_grid():
    from saliency_utils.analysis.receptive_fields import centre_surround_index

    k_dog, _ = planted_population(2, "dog", seed=0)
    k_c, _ = planted_population(2, "centre", seed=0)
    f = kernel_field(k_dog[0], radius=4, step=4)
    assert f.shape == (9, 9) and f[4, 4] > 0 and f.min() < 0
    assert centre_surround_index(f, 1.5) > 0  # antagonistic
    assert centre_surround_index(kernel_field(k_c[0], 4, 4), 1.5) < 0  # the same sign all round
    wide = kernel_field(k_dog[0], radius=20, step=8)  # beyond the kernel: zeros
    assert wide[0, 0] == 0 and wide[20, 20] == f[4, 4]
    with pytest.raises(ValueError, match="3 x S x S"):
        kernel_field(k_dog[0, 0], 2, 2)


def test_gradient_fields_recover_planted_kernels():
    from saliency_utils.analysis.receptive_fields import centre_surround_index
    from saliency_utils.analysis.surround import gradient_fields

    x = pink_images(6, seed=2)
    csi = {}
    for kind in ("dog", "centre"):
        net, k, units = planted(kind, n=4)
        tune = size_tuning(net, x, {"planted": net}, units, RADII, k=2)
        fields = gradient_fields(net, x, {"planted": net}, tune, units, half=12, batch_size=3)
        for i, u in enumerate(units):
            f = fields[u]
            assert f.shape == (25, 25)
            # a linear unit's gradient is its kernel (where the ReLU is on): same field, up to scale
            ref = kernel_field(k[i], radius=12, step=1)
            ok = np.isfinite(f)
            assert np.corrcoef(f[ok], ref[ok])[0, 1] > 0.99
            # and the centre-surround index of the kernel is recovered
            want = centre_surround_index(ref, 3, 12)
            assert centre_surround_index(f, 3, 12) == pytest.approx(want, abs=0.02)
            csi.setdefault(kind, []).append(centre_surround_index(f, 3, 12))
    # the same centres with and without a surround: the surround raises every unit's index
    gain = np.array(csi["dog"]) - np.array(csi["centre"])
    assert (gain > 0).all() and gain.mean() > 0.05
    with pytest.raises(ValueError, match="not measured"):
        gradient_fields(net, x, {"planted": net}, tune, [Unit("planted", 9)], half=4)
