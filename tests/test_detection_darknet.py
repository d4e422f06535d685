"""darknet cfg / weights IO and the network's numerics against an independent numpy darknet written here.

The reference below follows darknet's C code (CHW layout, batch 1): im2col-style convolution with pad = size/2,
batch norm with the epsilon outside the square root, maxpool with the window origin at -(padding/2) and
out-of-image positions skipped, nearest upsample, route with groups, and the yolo layer's activations. It parses
the cfg with its own few lines and reads the weights file with its own offsets.
"""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from detection import darknet

REFERENCE_DIR = "/work/shared/reference/darknet"


# ------------------------------------------------------------------------------------------------ numpy darknet


def ref_parse(text):
    sections = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line[1:-1], {}))
        else:
            k, v = line.split("=", 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections


def ref_activate(x, act):
    if act == "leaky":
        return np.where(x > 0, x, np.float32(0.1) * x)
    if act == "linear":
        return x
    if act == "mish":
        return x * np.tanh(np.logaddexp(0, x))
    raise NotImplementedError(act)


def ref_conv(x_CHW, w_OIKK, stride, pad, groups=1):
    c, h, w = x_CHW.shape
    o, ig, k, _ = w_OIKK.shape
    xp = np.pad(x_CHW, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.zeros((o, oh, ow), np.float64)
    og = o // groups
    for g in range(groups):
        for i in range(k):
            for j in range(k):
                patch = xp[g * ig:(g + 1) * ig, i:i + stride * oh:stride, j:j + stride * ow:stride]
                out[g * og:(g + 1) * og] += np.einsum("oc,chw->ohw", w_OIKK[g * og:(g + 1) * og, :, i, j], patch)
    return out.astype(np.float32)


def ref_maxpool(x_CHW, size, stride, padding):
    c, h, w = x_CHW.shape
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    off = -(padding // 2)
    out = np.full((c, oh, ow), -np.inf, np.float32)
    for i in range(oh):
        for j in range(ow):
            for n in range(size):
                for m in range(size):
                    y, x = off + i * stride + n, off + j * stride + m
                    if 0 <= y < h and 0 <= x < w:
                        out[:, i, j] = np.maximum(out[:, i, j], x_CHW[:, y, x])
    return out


def ref_forward(cfg_text, floats, image_HWC):
    """Returns (raw conv output before each yolo layer, yolo layer output), both [C, H, W]."""
    sections = ref_parse(cfg_text)[1:]
    x = np.ascontiguousarray(image_HWC.transpose(2, 0, 1), np.float32)
    outs, results, pos = [], [], 0
    for name, o in sections:
        if name == "convolutional":
            n, k, s = int(o["filters"]), int(o["size"]), int(o.get("stride", 1))
            pad = k // 2 if int(o.get("pad", 0)) else 0
            c = x.shape[0]
            bias = floats[pos:pos + n]; pos += n
            bn = int(o.get("batch_normalize", 0))
            if bn:
                scales, mean, var = (floats[pos + i * n:pos + (i + 1) * n] for i in range(3)); pos += 3 * n
            wts = floats[pos:pos + n * c * k * k].reshape(n, c, k, k); pos += n * c * k * k
            x = ref_conv(x, wts, s, pad)
            if bn:
                x = (x - mean[:, None, None]) / (np.sqrt(var[:, None, None]) + np.float32(.000001))
                x = x * scales[:, None, None]
            x = ref_activate(x + bias[:, None, None], o.get("activation", "logistic"))
        elif name == "maxpool":
            s = int(o.get("stride", 1)); k = int(o.get("size", s))
            x = ref_maxpool(x, k, s, int(o.get("padding", k - 1)))
        elif name == "upsample":
            s = int(o.get("stride", 2))
            x = x.repeat(s, axis=1).repeat(s, axis=2)
        elif name == "route":
            idx = [int(v) for v in o["layers"].split(",")]
            groups, gid = int(o.get("groups", 1)), int(o.get("group_id", 0))
            parts = []
            for i in idx:
                y = outs[i if i >= 0 else len(outs) + i]
                part = y.shape[0] // groups
                parts.append(y[gid * part:(gid + 1) * part])
            x = np.concatenate(parts, axis=0)
        elif name == "yolo":
            n_mask = len(o["mask"].split(","))
            classes = int(o["classes"])
            sxy = float(o.get("scale_x_y", 1))
            raw = x
            y = x.copy().reshape(n_mask, 5 + classes, *x.shape[1:])
            sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
            y[:, 0:2] = sig(y[:, 0:2]) * sxy - 0.5 * (sxy - 1)
            y[:, 4:] = sig(y[:, 4:])
            results.append((raw, y.reshape(x.shape)))
        else:
            raise NotImplementedError(name)
        outs.append(x)
    assert pos == len(floats)
    return results


def synthetic_floats(network, rng):
    """A plausible weights body in darknet's order (positive variances, fan-in scaled kernels)."""
    chunks = []
    for _, c in network.conv_layers:
        n, fan_in = c.filters, c.in_channels // c.groups * c.size * c.size
        chunks.append(rng.normal(0, 0.1, n))
        if c.batch_normalize:
            chunks += [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)]
        chunks.append(rng.normal(0, 1.0, n * fan_in) * np.sqrt(1.0 / fan_in))
    return np.concatenate(chunks).astype(np.float32)


def write_reference_weights(path, floats, major=0, minor=2, revision=0, seen=123456):
    """Written by the test's own code (independent of darknet.write_weights_file)."""
    with open(path, "wb") as f:
        f.write(np.array([major, minor, revision], "<i4").tobytes())
        wide = major * 10 + minor >= 2 and major < 1000 and minor < 1000
        f.write(np.array([seen], "<u8" if wide else "<i4").tobytes())
        f.write(floats.astype("<f4").tobytes())


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("name,size", [("yolov3-tiny", 64), ("yolov4-tiny", 64), ("yolov3-tiny", 96)])
def test_heads_match_numpy_darknet(tmp_path, name, size):
    cfg = darknet.BUILTIN[name](n_classes=80)
    network = darknet.parse_cfg(cfg)
    floats = synthetic_floats(network, np.random.default_rng(0))
    path = str(tmp_path / "w.weights")
    write_reference_weights(path, floats)
    variables = darknet.load_weights(path, network)
    image = np.random.default_rng(1).uniform(0, 1, (size, size, 3)).astype(np.float32)

    heads = jax.jit(lambda v, x: darknet.Darknet(network).apply(v, x))(variables, jnp.asarray(image[None]))
    expected = ref_forward(cfg, floats, image)
    assert len(heads) == len(expected) == 2
    for head, layer, (raw_ref, act_ref) in zip(heads, network.yolo_layers, expected):
        a, k = len(layer.mask), 5 + layer.classes
        chex.assert_shape(head, (1, raw_ref.shape[1], raw_ref.shape[2], a, k))
        to_chw = lambda t: np.asarray(t)[0].transpose(2, 3, 0, 1).reshape(a * k, *t.shape[1:3])  # noqa: E731
        scale = max(1.0, float(np.abs(raw_ref).max()))
        np.testing.assert_allclose(to_chw(head) / scale, raw_ref / scale, atol=1e-4, rtol=0)
        np.testing.assert_allclose(to_chw(darknet.yolo_activate(head, layer)) / scale, act_ref / scale, atol=1e-4,
                                   rtol=0)
    # The grids: 64 px -> 2x2 and 4x4 (the stride-1 pool of yolov3-tiny keeps 2x2).
    assert heads[0].shape[1:3] == (size // 32, size // 32) and heads[1].shape[1:3] == (size // 16, size // 16)


@pytest.mark.parametrize("h,size,stride", [(13, 2, 1), (13, 2, 2), (8, 2, 2), (7, 3, 2), (6, 3, 1)])
def test_maxpool_edges(h, size, stride):
    x = np.random.default_rng(0).normal(size=(3, h, h + 1)).astype(np.float32)
    ours = darknet.maxpool(jnp.asarray(x.transpose(1, 2, 0)[None]), size, stride, size - 1)
    ref = ref_maxpool(x, size, stride, size - 1)
    np.testing.assert_array_equal(np.asarray(ours)[0].transpose(2, 0, 1), ref)
    if (size, stride) == (2, 1):
        assert ours.shape[1:3] == (h, h + 1)  # darknet's stride-1 pool keeps the size


def test_mish_and_batchnorm_epsilon(tmp_path):
    cfg = ("[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nbatch_normalize=1\nfilters=6\nsize=3\nstride=1\n"
           "pad=1\nactivation=mish\n[yolo]\nmask=0\nanchors=10,10\nclasses=1\n")
    network = darknet.parse_cfg(cfg)
    floats = synthetic_floats(network, np.random.default_rng(3))
    n = 6
    floats[3 * n:4 * n] = np.array([1e-8, 1e-4, 1e-2, 1.0, 4.0, 0.0], np.float32)  # variances incl. tiny and 0
    variables = darknet.variables_from_floats(floats, network)
    x = np.random.default_rng(4).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    ours = darknet.Darknet(network).apply(variables, jnp.asarray(x[None]))[0]
    ref_raw, _ = ref_forward(cfg, floats, x)[0]
    np.testing.assert_allclose(np.asarray(ours)[0, ..., 0, :].transpose(2, 0, 1), ref_raw, rtol=2e-4, atol=1e-3)


def test_builtin_cfgs_equal_published_layer_lists():
    if not os.path.isdir(REFERENCE_DIR):
        pytest.skip("reference cfgs not available")
    for name in ("yolov3-tiny", "yolov4-tiny"):
        ref = darknet.read_cfg(os.path.join(REFERENCE_DIR, f"{name}.cfg"))
        ours = darknet.builtin_cfg(name)
        strip = lambda net: [{k: v for k, v in vars(l).items() if k != "line"} for l in net.layers]  # noqa: E731
        assert strip(ref) == strip(ours)
        assert ref.channels == ours.channels


def test_weights_byte_count_and_round_trip(tmp_path):
    network = darknet.builtin_cfg("yolov3-tiny")
    assert len(network.layers) == 24 and len(network.conv_layers) == 13
    assert network.n_floats() == 8_858_734
    floats = np.random.default_rng(0).standard_normal(network.n_floats()).astype(np.float32)
    variables = darknet.variables_from_floats(floats, network)
    path = str(tmp_path / "yolov3-tiny.weights")
    darknet.save_weights(path, variables, network, seen=64 * 1000)
    assert os.path.getsize(path) == 35_434_956
    header, back = darknet.read_weights_file(path)
    assert (header.major, header.minor, header.revision, header.seen) == (0, 2, 0, 64000)
    np.testing.assert_array_equal(back.view(np.uint32), floats.view(np.uint32))  # bit-identical
    again = str(tmp_path / "again.weights")
    darknet.save_weights(again, darknet.load_weights(path, network), network, seen=64000)
    assert open(path, "rb").read() == open(again, "rb").read()
    # kernel layout: darknet [out][in][kh][kw] -> HWIO
    first = variables["params"]["conv_0"]["kernel"]
    np.testing.assert_array_equal(first[:, :, :, 0].transpose(2, 0, 1).ravel(), floats[64:64 + 27])


def test_yolov4_tiny_weights_count():
    network = darknet.builtin_cfg("yolov4-tiny")
    assert len(network.layers) == 38 and len(network.conv_layers) == 21
    assert network.n_floats() * 4 + 20 == 24_251_276


@pytest.mark.parametrize("major,minor,header_bytes", [(0, 1, 16), (0, 2, 20), (1, 0, 20), (0, 1000, 16)])
def test_both_header_variants(tmp_path, major, minor, header_bytes):
    network = darknet.parse_cfg(darknet.yolov3_tiny_cfg(n_classes=1, width=1 / 16))
    floats = np.arange(network.n_floats(), dtype=np.float32)
    path = str(tmp_path / "w.weights")
    write_reference_weights(path, floats, major, minor, 5, seen=77)
    assert os.path.getsize(path) == header_bytes + 4 * floats.size
    header, back = darknet.read_weights_file(path)
    assert (header.major, header.minor, header.revision, header.seen, header.nbytes) == (major, minor, 5, 77,
                                                                                        header_bytes)
    np.testing.assert_array_equal(back, floats)
    out = str(tmp_path / "out.weights")
    darknet.write_weights_file(out, back, header)
    assert open(out, "rb").read() == open(path, "rb").read()


def test_weights_too_short_or_trailing(tmp_path):
    network = darknet.parse_cfg(darknet.yolov3_tiny_cfg(n_classes=2, width=1 / 16))
    n = network.n_floats()
    for count, words in ((n - 10, ("too short", f"{n:,}", f"{n - 10:,}")),
                         (n + 3, ("trailing", f"{n:,}", f"{n + 3:,}"))):
        path = str(tmp_path / f"{count}.weights")
        write_reference_weights(path, np.zeros(count, np.float32))
        with pytest.raises(darknet.WeightsError) as e:
            darknet.load_weights(path, network)
        for w in words:
            assert w in str(e.value)
    odd = str(tmp_path / "odd.weights")
    write_reference_weights(odd, np.zeros(n, np.float32))
    with open(odd, "ab") as f:
        f.write(b"\x00\x01")
    with pytest.raises(darknet.WeightsError, match="whole number"):
        darknet.load_weights(odd, network)


GOOD = "[net]\nwidth=64\nheight=64\n\n[convolutional]\nfilters=18\nsize=1\nactivation=linear\n\n[yolo]\nmask=0,1,2\n" \
       "anchors=1,2, 3,4, 5,6\nclasses=1\n"


def test_cfg_parses_minimal():
    net = darknet.parse_cfg(GOOD)
    assert [type(l).__name__ for l in net.layers] == ["Conv", "Yolo"]
    assert net.yolo_layers[0].masked_anchors == ((1, 2), (3, 4), (5, 6))


@pytest.mark.parametrize("text,pattern", [
    (GOOD.replace("[yolo]", "[dropout]"), r"line 10: unknown section \[dropout\]"),
    (GOOD.replace("filters=18\n", ""), r"line 5: \[convolutional\] section is missing required key 'filters'"),
    (GOOD.replace("size=1", "size=x"), r"line 7: 'size' must be an integer"),
    (GOOD.replace("activation=linear", "activation=gelu"), r"line 8: unsupported activation 'gelu'"),
    (GOOD.replace("classes=1", "classes=2"), r"line 10: \[yolo\] needs 3\*\(5\+2\)"),
    (GOOD.replace("size=1", "size 1"), r"line 7: expected 'key=value'"),
    (GOOD.replace("[yolo]\n", "[route]\nlayers=-5\n[yolo]\n"), r"line 10: layer reference -5"),
    (GOOD.replace("[yolo]\n", "[yolo]\n").replace("anchors=1,2, 3,4, 5,6\n", ""), r"missing required key 'anchors'"),
])
def test_cfg_errors_name_the_line(text, pattern):
    with pytest.raises(darknet.CfgError, match=pattern):
        darknet.parse_cfg(text)


def test_read_cfg_error_names_file(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text(GOOD.replace("[yolo]", "[dropout]"))
    with pytest.raises(darknet.CfgError, match=r"bad.cfg: cfg line 10"):
        darknet.read_cfg(str(path))


def test_input_not_divisible_by_32():
    network = darknet.parse_cfg(darknet.yolov3_tiny_cfg(n_classes=1, width=1 / 16))
    variables = jax.eval_shape(lambda k: darknet.init_variables(k, network), jax.random.key(0))
    with pytest.raises(ValueError, match="not divisible by 32"):
        jax.eval_shape(darknet.Darknet(network).apply, variables, jnp.zeros((1, 48, 64, 3)))


def test_flax_init_matches_darknet_init_tree():
    network = darknet.parse_cfg(darknet.yolov4_tiny_cfg(n_classes=3, width=0.125))
    ours = darknet.init_variables(jax.random.key(0), network)
    flax_vars = jax.eval_shape(lambda: darknet.Darknet(network).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
    chex.assert_trees_all_equal_shapes(ours, flax_vars)
    k = np.asarray(ours["params"]["conv_1"]["kernel"])
    bound = np.sqrt(2 / (9 * network.layers[1].in_channels))
    assert np.abs(k).max() <= bound and np.abs(k).max() > 0.9 * bound  # darknet: uniform(-1, 1) * sqrt(2/fan_in)
