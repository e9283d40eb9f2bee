"""The saliency model: a log-density at the input size, frozen encoder, named layers, prior.

Random-weight backbones (``weights=None``) keep these tests fast and offline; a single thread
is used for them (tiny inputs gain nothing from more, and it keeps them fast when another
process keeps the cores busy).
"""
import numpy as np
import pytest
import torch

from saliency_utils.models.saliency_model import CentreBiasPrior, SaliencyModel


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return SaliencyModel("efficientnet_lite0", weights=None,
                         readout_layers=("stage3", "stage5", "head"), readout_hidden=8,
                         input_size=(64, 96), device="cpu")


@pytest.mark.parametrize("size", [(64, 96), (70, 91), (33, 40)])
def test_output_is_a_log_density_of_the_input_size(lite, size):
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        logp = lite(x)
    assert logp.shape == (2, *size)
    assert torch.isfinite(logp).all()
    sums = logp.double().exp().flatten(1).sum(1)
    assert torch.allclose(sums, torch.ones(2, dtype=torch.float64), atol=1e-5)


def test_vgg16_paper_encoder_and_single_conv_readout():
    torch.manual_seed(0)
    m = SaliencyModel("vgg16", weights=None, readout_hidden=0, centre_bias="none", device="cpu")
    assert m.prior is None
    assert [type(c).__name__ for c in m.readout] == ["Conv2d"]
    assert m.readout.conv.kernel_size == (1, 1) and m.readout.conv.in_channels == 512
    assert "conv5_3" in m.layers and "pool5" not in m.layers and "fc6" not in m.layers
    assert len(m.encoder.features) == 30  # conv1_1 ... relu5_3, no pool5
    with torch.no_grad():
        logp = m(torch.randn(1, 3, 48, 80))
    assert logp.shape == (1, 48, 80)
    assert abs(logp.double().exp().sum().item() - 1) < 1e-6


def test_frozen_encoder_gets_no_gradient():
    torch.manual_seed(0)
    m = SaliencyModel("efficientnet_lite0", weights=None, freeze_encoder=True,
                      input_size=(64, 64), device="cpu")
    m.train()
    loss = -m(torch.randn(2, 3, 64, 64))[:, 20:40, 20:40].mean()
    loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in m.encoder.parameters())
    assert all(p.grad is not None for p in m.readout.parameters())
    assert all(p.grad is not None for p in m.prior.parameters())


def test_trainable_encoder_gets_gradient_and_batchnorm_stays_frozen(lite):
    lite.train()
    bn = lite.encoder._bn0
    before = bn.running_mean.clone()
    lite.zero_grad()
    (-lite(torch.randn(2, 3, 64, 96))[:, :10, :10].mean()).backward()
    assert lite.encoder._conv_stem.weight.grad is not None
    assert not bn.training and torch.equal(bn.running_mean, before)
    assert lite.readout.training
    lite.zero_grad()
    lite.eval()


def test_named_layers_and_hooks(lite):
    acts = lite.activations(torch.randn(1, 3, 64, 96),
                            ["stage3", "stage5", "head", "readout_input", "readout_hidden",
                             "readout"])
    assert acts["stage3"].shape[1] == 40 and acts["stage5"].shape[1] == 112
    assert acts["head"].shape[1] == 1280
    # readout input: all readout layers upsampled to the finest (stride 8) and concatenated
    assert acts["readout_input"].shape == (1, 40 + 112 + 1280, 8, 12)
    assert acts["readout_hidden"].shape == (1, 8, 8, 12)
    assert acts["readout"].shape == (1, 1, 8, 12)
    assert lite.module("stage3") is lite.encoder._blocks[4]
    assert lite.layers["block0"] == "encoder._blocks.0"
    with pytest.raises(KeyError, match="unknown layer"):
        lite.module("nope")


def test_unknown_readout_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown readout layer"):
        SaliencyModel("efficientnet_lite0", weights=None, readout_layers=("conv5_3",),
                      device="cpu")


def test_predict_gives_a_density_at_the_image_size(lite):
    rng = np.random.default_rng(0)
    for img in [rng.integers(0, 256, (45, 77, 3), dtype=np.uint8),
                rng.integers(0, 256, (50, 30), dtype=np.uint8),
                rng.integers(0, 256, (31, 64, 4), dtype=np.uint8)]:
        p = lite.predict(img)
        assert p.shape == img.shape[:2]
        assert np.all(p >= 0) and abs(p.sum() - 1) < 1e-9
    assert lite.input_shape_for((600, 800)) == (64, 96)  # area of 64x96, 4:3, multiples of 16
    assert lite.input_shape_for((800, 600)) == (96, 64)
    big = SaliencyModel("efficientnet_lite0", weights=None, input_size=(240, 320), device="cpu")
    assert big.input_shape_for((600, 800)) == (240, 320)  # OSIE: exactly the training size
    assert big.input_shape_for((768, 1024)) == (240, 320)
    assert big.input_shape_for((1024, 768)) == (320, 240)
    assert big.input_shape_for((5, 3000)) == (32, 2400)  # same pixel count


def test_centre_bias_prior_is_a_centred_density():
    prior = CentreBiasPrior((0.2, 0.25))
    with torch.no_grad():
        lp = prior((31, 41))[0, 0].double()
    assert abs(lp.exp().sum().item() - 1) < 1e-5
    assert torch.allclose(lp, lp.flip(0), atol=1e-5) and torch.allclose(lp, lp.flip(1), atol=1e-5)
    assert lp.argmax().item() == 15 * 41 + 20


def test_flip_average_is_mirror_symmetric(lite):
    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    p = lite.predict(img)
    q = lite.predict(img[:, ::-1])
    assert np.allclose(q, p[:, ::-1], rtol=1e-4, atol=1e-9)
    single = lite.predict(img, flip_average=False)
    assert single.shape == p.shape and not np.array_equal(single, p)


# ---------------------------------------------------------------- readout bias, min-max output
@pytest.mark.parametrize("hidden", [0, 4])
def test_readout_without_bias(hidden):
    torch.manual_seed(0)
    kw = dict(weights="random", readout_hidden=hidden, centre_bias="none",
              input_size=(48, 64), device="cpu")
    m = SaliencyModel("efficientnet_lite0", readout_bias=False, **kw)
    last = m.module("readout")
    assert last.bias is None
    assert set(m.readout.state_dict()) == ({"conv1.weight", "conv1.bias", "conv2.weight"}
                                          if hidden else {"conv.weight"})
    assert m.kwargs["readout_bias"] is False
    if hidden:  # only the last convolution loses its bias
        assert m.readout.conv1.bias is not None
    default = SaliencyModel("efficientnet_lite0", **kw)
    assert default.module("readout").bias is not None
    # checkpoints written before the option existed have no such key: the defaults add none
    assert "readout_bias" not in default.kwargs and "output" not in default.kwargs


def test_readout_bias_cannot_change_the_output():
    """The last bias adds one constant to every pixel; the log-softmax removes it, so the
    output is the same for any bias and the bias gets no gradient."""
    torch.manual_seed(0)
    m = SaliencyModel("efficientnet_lite0", weights="random", readout_layers=("stage3",),
                      readout_hidden=0, centre_bias="none", input_size=(48, 64), device="cpu")
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        m.readout.conv.bias.fill_(0.0)
        a = m(x)
        m.readout.conv.bias.fill_(5.0)
        b = m(x)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    m.train()
    fix = torch.zeros(2, 48, 64)
    fix[:, 10, 20] = 1
    (-(m(x) * fix).sum()).backward()
    assert m.readout.conv.weight.grad.abs().max() > 1e-4
    # sum over pixels of (p - fix) = 0 up to rounding; without the softmax it would be -2
    assert m.readout.conv.bias.grad.abs().max() < 1e-5


@pytest.fixture(scope="module")
def minmax_model():
    torch.manual_seed(0)
    return SaliencyModel("efficientnet_lite0", weights="random", readout_layers=("stage3",),
                         readout_hidden=0, centre_bias="none", readout_bias=False, output="minmax",
                         input_size=(64, 96), device="cpu")


def test_minmax_output_is_the_min_max_log_density(minmax_model):
    from saliency_utils.models.saliency_model import log_density_to_minmax_map

    img = (np.random.default_rng(3).random((64, 96, 3)) * 255).astype(np.uint8)
    lp = minmax_model.predict_log_density(img, size=(64, 96))
    sal = minmax_model.predict(img, size=(64, 96), flip_average=False)
    # at the input size no resizing: the map is (lp - min) / (max - min), divided by its sum
    ref = (lp - lp.min()) / np.ptp(lp)
    np.testing.assert_allclose(sal, ref / ref.sum(), rtol=1e-9, atol=1e-15)
    assert sal.min() == 0 and abs(sal.sum() - 1) < 1e-12
    # the exponent does not change a min-max map
    np.testing.assert_allclose(minmax_model.predict(img, size=(64, 96), exponent=0.3),
                               minmax_model.predict(img, size=(64, 96), exponent=1.0),
                               rtol=1e-12, atol=1e-15)
    # mirror averaging averages the log-maps (the readouts)
    mirror = minmax_model.predict_log_density(np.ascontiguousarray(img[:, ::-1]), size=(64, 96))
    both = 0.5 * (lp + mirror[:, ::-1])
    np.testing.assert_allclose(minmax_model.predict(img, size=(64, 96)),
                               log_density_to_minmax_map(both, (64, 96)), rtol=1e-9,
                               atol=1e-15)
    # at another size: resized, non-negative, a density
    other = (np.random.default_rng(4).random((130, 190, 3)) * 255).astype(np.uint8)
    big = minmax_model.predict(other)
    assert big.shape == (130, 190) and big.min() >= 0 and abs(big.sum() - 1) < 1e-9


def test_minmax_of_a_constant_log_map_is_the_constant_map():
    from saliency_utils.models.saliency_model import log_density_to_minmax_map

    lp = np.full((6, 8), -np.log(48.0))
    lp[2, 3] += 1e-9  # float rounding, not a peak
    out = log_density_to_minmax_map(lp, (12, 16))
    np.testing.assert_allclose(out, 1.0 / (12 * 16))
    with pytest.raises(ValueError):
        SaliencyModel("efficientnet_lite0", weights="random", output="sigmoid", device="cpu")
