import numpy as np
import pytest
import torch
from torch import nn

from saliency_utils.analysis.receptive_fields import (Unit, centre_surround_index, empirical_rfs,
    layer_outputs, occluder_grid, top_images)


class Toy(nn.Module):
    """A linear unit: one 7x7 convolution of the red channel, times a fixed spatial weight that
    is 1 at one position and 0 elsewhere, so the unit's peak (and its receptive field) is known exactly."""

    def __init__(self, kernel, size=21, peak=(10, 12)):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 7, padding=3, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = torch.as_tensor(kernel)
            self.conv.weight[1, 1] = 1.0
        m = torch.zeros(size, size)
        m[peak] = 1.0
        self.register_buffer("mask", m)
        self.unit = nn.Identity()
        self.after = nn.Conv2d(2, 1, 1)

    def forward(self, x):
        return self.after(self.unit(self.conv(x) * self.mask))


def _kernel():
    yy, xx = np.mgrid[-3:4, -3:4]
    r2 = yy ** 2 + xx ** 2
    return (np.exp(-r2 / 2) - 0.2 * np.exp(-r2 / 8)).astype(np.float32)


def test_rf_of_linear_unit_is_its_kernel():
    k = _kernel()
    model = Toy(k)
    images = torch.ones(3, 3, 21, 21)
    res = empirical_rfs(model, images, {"unit": model.unit}, [Unit("unit", 0)], k=2, radius=3,
                        step=1, occluder=1, fill=(torch.zeros(3), torch.zeros(3)))
    u = Unit("unit", 0)
    assert [p[1] for p in res.peaks[u]] == [(10, 12), (10, 12)]
    np.testing.assert_allclose(res.fields[u], k, atol=1e-5)
    assert res.n_forward == 2 * 49  # two top images (identical, but distinct pool entries)


def test_rf_window_outside_image_is_nan_and_forward_count():
    delta = np.zeros((7, 7), np.float32)
    delta[3, 3] = 1.0  # a kernel whose centroid is exact even at the border
    model = Toy(delta, peak=(0, 0))
    with torch.no_grad():
        model.conv.weight[1].zero_()  # (the other channel's 7x7 box would bias the centroid)
    images = torch.ones(1, 3, 21, 21)
    res = empirical_rfs(model, images, {"unit": model.unit}, [Unit("unit", 0)], k=1, radius=2,
                        step=1, occluder=1, fill=(torch.zeros(3), torch.zeros(3)))
    f = res.fields[Unit("unit", 0)]
    assert np.isnan(f[:2]).all() and np.isnan(f[:, :2]).all() and np.isfinite(f[2:, 2:]).all()
    assert res.n_forward == 9


def test_rf_deterministic_and_units_share_passes():
    torch.manual_seed(0)
    model = Toy(_kernel())
    images = torch.rand(4, 3, 21, 21)
    units = [Unit("unit", 0), Unit("unit", 1)]
    a = empirical_rfs(model, images, {"unit": model.unit}, units, k=1, radius=2, step=2,
                      occluder=3, seed=1)
    b = empirical_rfs(model, images, {"unit": model.unit}, units, k=1, radius=2, step=2,
                      occluder=3, seed=1)
    for u in units:
        np.testing.assert_array_equal(a.fields[u], b.fields[u])
    # both units peak at the same place of the same image -> one set of 25 passes
    if a.peaks[units[0]][0][:2] == a.peaks[units[1]][0][:2]:
        assert a.n_forward == 25


def test_top_images_order_and_errors():
    model = Toy(_kernel())
    images = torch.ones(3, 3, 21, 21) * torch.tensor([1.0, 3.0, 2.0]).view(3, 1, 1, 1)
    top = top_images(model, images, {"unit": model.unit}, [Unit("unit", 0)], k=3)
    assert [t[0] for t in top[Unit("unit", 0)]] == [1, 2, 0]
    with pytest.raises(ValueError, match="k must be"):
        top_images(model, images, {"unit": model.unit}, [Unit("unit", 0)], k=4)
    with pytest.raises(ValueError, match="channels"):
        top_images(model, images, {"unit": model.unit}, [Unit("unit", 5)], k=1)
    with pytest.raises(ValueError, match="not in modules"):
        top_images(model, images, {"unit": model.unit}, [Unit("conv9", 0)], k=1)
    with pytest.raises(ValueError, match="never active"):
        relu = nn.Sequential(nn.Conv2d(3, 1, 1), nn.ReLU())
        with torch.no_grad():
            relu[0].weight.fill_(-1.0); relu[0].bias.zero_()
        top_images(relu, images, {"r": relu[1]}, [Unit("r", 0)], k=1)


def test_layer_outputs_stops_early():
    calls = []
    model = nn.Sequential(nn.Identity(), nn.Linear(2, 2))
    model[1].register_forward_hook(lambda *a: calls.append(1))
    out = layer_outputs(model, torch.zeros(1, 2), {"first": model[0]})
    assert "first" in out and calls == []


def test_occluder_grid():
    g = occluder_grid(1, 4)
    assert g.shape == (9, 2) and g[0].tolist() == [-4, -4] and g[4].tolist() == [0, 0]
    with pytest.raises(ValueError):
        occluder_grid(-1, 1)


def _field(a_c, a_s, s_c, s_s, n=15):
    """A difference of two concentric Gaussians (amplitudes a_c, a_s; widths s_c, s_s)."""
    yy, xx = np.mgrid[0:n, 0:n] - (n - 1) / 2
    r2 = (yy ** 2 + xx ** 2).astype(float)
    return a_c * np.exp(-r2 / (2 * s_c ** 2)) + a_s * np.exp(-r2 / (2 * s_s ** 2))


def test_centre_surround_index():
    assert centre_surround_index(_field(1.0, -0.3, 1.5, 4.0), 2) > 0.1
    assert centre_surround_index(_field(1.0, 0.0, 2.0, 5.0), 2) < 0
    assert centre_surround_index(-_field(1.0, -0.3, 1.5, 4.0), 2) == pytest.approx(
        centre_surround_index(_field(1.0, -0.3, 1.5, 4.0), 2))
    with pytest.raises(ValueError):
        centre_surround_index(np.zeros((9, 9)), 2)
    with pytest.raises(ValueError):
        centre_surround_index(np.ones((9, 9)), 2, surround_radius=1)


def test_cell_centres_of_a_strided_layer():
    from saliency_utils.analysis.receptive_fields import cell_centres
    # stride-4 conv, kernel 5, padding 2: cell r covers pixels 4r-2 .. 4r+2, centred on 4r
    conv = nn.Conv2d(3, 1, 5, stride=4, padding=2)
    net = nn.Sequential(conv, nn.Identity())
    yc, xc, sy, sx = cell_centres(net, torch.randn(1, 3, 32, 48), net[1])
    assert (sy, sx) == (4.0, 4.0)
    assert yc == pytest.approx(4 * 3, abs=0.6) and xc == pytest.approx(4 * 5, abs=0.6)


def test_active_channels():
    from saliency_utils.analysis.receptive_fields import active_channels
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
    with torch.no_grad():
        net[0].weight.zero_(); net[0].bias.copy_(torch.tensor([1.0, -1.0, 2.0, 0.5]))
    act = active_channels(net, torch.zeros(2, 3, 4, 4), {"r": net[1]})
    assert act["r"].tolist() == [True, False, True, True]


def test_cell_pixel_and_nearest_cells_are_inverse():
    from saliency_utils.analysis.receptive_fields import cell_pixel, nearest_cells
    geometry, shape = (13.5, 21.0, 8.0, 8.0), (6, 9)  # central cell (2, 4) at pixel (13.5, 21)
    assert cell_pixel((2, 4), geometry, shape) == (13.5, 21.0)
    cells = [(r, c) for r in range(6) for c in range(9)]
    pts = np.array([cell_pixel(rc, geometry, shape) for rc in cells]) + 2.0  # within half a cell
    assert [tuple(rc) for rc in nearest_cells(pts, geometry, shape)] == cells
    # outside the map: clipped to the border cells
    assert nearest_cells(np.array([[-100.0, 1000.0]]), geometry, shape).tolist() == [[0, 8]]
