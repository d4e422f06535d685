"""fpga.quantize and fpga.reference: hand-computed fixed-point cases (exact), the integer model against the float
Flax network (close), formats, the report and the errors."""

import jax
import numpy as np
import pytest

from detection import darknet
from fpga import quantize as Q
from fpga import reference as R


def tiny_network(size=64, width=0.25, n_classes=3):
    return darknet.parse_cfg(darknet.yolov3_tiny_cfg(n_classes=n_classes, width=width, size=size))


def random_variables(network, seed=0):
    """darknet's init plus non-trivial BN statistics, so that folding matters."""
    v = jax.tree.map(np.asarray, darknet.init_variables(jax.random.key(seed), network))
    rng = np.random.default_rng(seed)
    for k, st in v["batch_stats"].items():
        n = st["mean"].shape[0]
        st["mean"] = rng.normal(0, 0.2, n).astype(np.float32)
        st["var"] = rng.uniform(0.5, 2, n).astype(np.float32)
        v["params"][k]["scale"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        v["params"][k]["bias"] = rng.normal(0, 0.1, n).astype(np.float32)
    return v


@pytest.fixture(scope="module")
def tiny():
    network = tiny_network()
    variables = random_variables(network)
    images = np.random.default_rng(1).uniform(0, 1, (2, 64, 64, 3)).astype(np.float32)
    return network, variables, images


# ------------------------------------------------------------------------------------------ hand-computed cases


def test_fixed_point_primitives_by_hand():
    np.testing.assert_array_equal(Q.to_fixed([0.5, -0.5, 1 / 512, -1 / 512, 200.0, -200.0], 8, 16),
                                  [128, -128, 1, 0, 32767, -32768])  # half up; saturated at 16 bits
    np.testing.assert_array_equal(Q.to_fixed([3.0, -3.0], 6, 8), [127, -128])
    np.testing.assert_array_equal(Q.wrap([2**31, 2**31 + 5, -(2**31) - 1, 7]), [-(2**31), -(2**31) + 5, 2**31 - 1, 7])
    np.testing.assert_array_equal(Q.round_shift([383, 384, -384, -385], 8), [1, 2, -1, -2])  # 1.5 -> 2, -1.5 -> -1
    # leaky folded into the rounding: -100000 * 6554 / 2**24 = -39.06 -> -39; positives just shift
    np.testing.assert_array_equal(Q.requantize([-100000, 100000], 8, True, 16), [-39, 391])
    np.testing.assert_array_equal(Q.requantize([-100000], 8, False, 16), [-391])
    np.testing.assert_array_equal(Q.requantize([10**9], 8, False, 16), [32767])


def test_sigmoid_table():
    t = Q.sigmoid_table()
    assert t.shape == (4096,) and t[2048] == 16384 and np.all(np.diff(t) >= 0)
    x = (np.arange(4096) - 2048) / 256
    np.testing.assert_allclose(t / 2**15, 1 / (1 + np.exp(-x)), atol=2**-16)
    # index: frac 10 -> floor to steps of 1/256; frac 6 -> scaled up; clipped to the table
    np.testing.assert_array_equal(Q.sigmoid_index([4, 7, -1, 10**6], 10), [2049, 2049, 2047, 4095])
    np.testing.assert_array_equal(Q.sigmoid_index([1, -10**6], 6), [2052, 0])


def test_conv_layer_by_hand():
    """1x1 conv, 2 -> 1 channels: x = (3, -2) (Q8.8 ints), w = (0.5, 0.25) -> (128, 64), bias 0.1 at 2**-16 -> 6554:
    acc = 3*128 - 2*64 + 6554 = 6810, >> 8 rounded = 27."""
    layer = darknet.Conv(filters=1, size=1, stride=1, padding=0, batch_normalize=False, activation="leaky",
                         in_channels=2)
    w = np.array([0.5, 0.25]).reshape(1, 1, 2, 1)
    qc = Q.QConv(0, layer, w, np.array([0.1]), Q.to_fixed(w, 8, 16), Q.to_fixed([0.1], 16, 32), 8, 8, 8)
    out = R.conv_layer(qc, np.array([3, -2]).reshape(1, 1, 1, 2), 16)
    assert out.item() == 27
    out = R.conv_layer(qc, np.array([-300, 0]).reshape(1, 1, 1, 2), 16)  # acc = -38400 + 6554 = -31846, leaky
    assert out.item() == (-31846 * 6554 + 2**23) >> 24 == -12


def test_conv_3x3_against_loops_and_accumulator_wrap():
    rng = np.random.default_rng(0)
    x = rng.integers(-32768, 32768, (1, 5, 6, 3))
    w = rng.integers(-32768, 32768, (3, 3, 3, 2))
    b = rng.integers(-2**31, 2**31, 2)
    layer = darknet.Conv(filters=2, size=3, stride=1, padding=1, batch_normalize=False, activation="linear",
                         in_channels=3)
    qc = Q.QConv(0, layer, w * 1.0, b * 1.0, w, b, 8, 8, 8)
    stats = {"saturated": {}, "wrapped": {}}
    out = R.conv_layer(qc, x, 16, stats)
    xp = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    expect = np.zeros((5, 6, 2), np.int64)
    wraps = 0
    for y in range(5):
        for xx in range(6):
            for n in range(2):
                s = int(b[n]) + sum(int(xp[y + i, xx + j, c]) * int(w[i, j, c, n])
                                    for i in range(3) for j in range(3) for c in range(3))
                v = (s + 2**31) % 2**32 - 2**31  # 32-bit two's complement
                wraps += v != s
                v = (v + 128) >> 8
                expect[y, xx, n] = min(max(v, -32768), 32767)
    np.testing.assert_array_equal(out[0], expect)
    assert wraps > 0 and stats["wrapped"][0] == wraps


def test_maxpool_matches_darknet_semantics():
    x = np.arange(16).reshape(1, 4, 4, 1)[:, ::-1]
    np.testing.assert_array_equal(R.maxpool(x, 2, 2, 1)[0, ..., 0], [[13, 15], [5, 7]])
    s1 = R.maxpool(x, 2, 1, 1)[0, ..., 0]  # size kept, bottom/right edge sees only the inside
    assert s1.shape == (4, 4) and s1[3, 3] == x[0, 3, 3, 0] and s1[0, 0] == 13 and s1[3, 0] == 1


# ------------------------------------------------------------------------------------------ the whole network


def test_float_twin_and_fixed_point_close_to_flax(tiny):
    network, variables, images = tiny
    heads = darknet.Darknet(network).apply(variables, images)
    folded = Q.fold_bn(network, variables)
    floats = R.forward_float(network, folded, images)
    qnet = Q.quantize(network, variables)
    fixed = R.forward(qnet, R.quantize_input(qnet, images))
    yolos = [i for i, l in enumerate(network.layers) if isinstance(l, darknet.Yolo)]
    for head, i in zip(heads, yolos):
        layer = network.layers[i]
        flax_raw = np.asarray(head).reshape(floats[i].shape)
        np.testing.assert_allclose(floats[i], flax_raw, atol=1e-5)
        activated = np.asarray(darknet.yolo_activate(head, layer)).reshape(floats[i].shape)
        got = R.dequantize(qnet, i, fixed[i])
        assert fixed[i].dtype == np.int64
        np.testing.assert_allclose(got, activated, atol=0.03)
        assert np.abs(got - activated).mean() < 0.005
        assert not np.array_equal(got, activated)  # it is fixed point


def test_detect_runs_detection_postprocessing(tiny):
    network, variables, images = tiny
    qnet = Q.quantize(network, variables)
    out = R.detect(qnet, images, thresh=0.0)
    assert out["boxes"].shape == (2, 100, 4) and out["valid"].any()
    assert np.all(np.isfinite(out["boxes"][out["valid"]]))


def test_report_and_profiled_formats(tiny):
    network, variables, images = tiny
    qnet = Q.quantize(network, variables, calibration=images)
    assert len(qnet.report) == len(network.layers)
    conv0 = qnet.report[0]
    assert conv0.frac == 8 and conv0.frac_w == 8 and conv0.saturated == 0 and 25 < conv0.sqnr_db < 60
    assert "SQNR" in qnet.report_text() and "Q8.8" in qnet.report_text()
    prof = Q.quantize(network, variables, Q.QuantConfig(profile=True), calibration=images)
    # more fractional bits where the values are small, better SQNR, and the route's inputs share a format
    assert all(prof.fracs[i] >= 8 for i, _ in network.conv_layers)
    assert prof.report[0].sqnr_db > conv0.sqnr_db + 20
    assert prof.fracs[19] == prof.fracs[8] == prof.fracs[20]
    over = Q.quantize(network, variables, Q.QuantConfig(layers={0: {"frac_out": 10, "frac_w": 12}}))
    assert over.convs[0].frac_out == 10 and over.convs[0].frac_w == 12 and over.convs[2].frac_in == 10


def test_narrow_format_warns_with_counts(tiny):
    network, variables, images = tiny
    with pytest.warns(Q.FormatWarning, match=r"layer \d+ .*\d+ saturated"):
        qnet = Q.quantize(network, variables, Q.QuantConfig(data_bits=8, data_frac=7, weight_bits=8,
                                                            weight_frac=6), calibration=images)
    assert sum(r.saturated for r in qnet.report) > 0


def test_bad_input_errors(tiny):
    network, variables, _ = tiny
    v4 = darknet.parse_cfg(darknet.yolov4_tiny_cfg(n_classes=3, width=0.25))
    with pytest.raises(Q.QuantizeError, match=r"layer 0 .*3x3/2"):
        Q.check_supported(v4)
    with pytest.raises(Q.QuantizeError, match="needs calibration"):
        Q.quantize(network, variables, Q.QuantConfig(profile=True))
    with pytest.raises(Q.QuantizeError, match="layer 1: not a convolutional"):
        Q.quantize(network, variables, Q.QuantConfig(layers={1: {"frac_out": 4}}))
    with pytest.raises(Q.QuantizeError, match="more than the accumulator"):
        Q.quantize(network, variables, Q.QuantConfig(layers={0: {"frac_out": 15, "frac_w": 2}}))
    with pytest.raises(Q.QuantizeError, match="route layer 20"):
        Q.quantize(network, variables, Q.QuantConfig(layers={8: {"frac_out": 9}}))
    with pytest.raises(Q.QuantizeError, match="data_bits=20"):
        Q.QuantConfig(data_bits=20)
