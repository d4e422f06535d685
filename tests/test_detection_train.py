"""Model contract (Config / init / train_step), the YOLO loss, the LR schedule, and the CLIs."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from detection import darknet, data, loss, model
from tests import contract

TINY = dict(n_classes=3, img_size=64, batch_size=2, max_boxes=4, width=0.125, burn_in=2, lr=1e-3)


def _batch(config, seed=0):
    rng = np.random.default_rng(seed)
    b, m = config.batch_size, config.max_boxes
    boxes = np.zeros((b, m, 4), np.float32)
    classes = np.full((b, m), -1, np.int32)
    boxes[:, :2] = rng.uniform([0.3, 0.3, 0.1, 0.1], [0.7, 0.7, 0.4, 0.4], (b, 2, 4))
    classes[:, :2] = rng.integers(0, config.n_classes, (b, 2))
    return {"image": rng.uniform(0, 1, (b, config.img_size, config.img_size, 3)).astype(np.float32),
            "boxes": boxes, "classes": classes}


@pytest.fixture(scope="module", params=["yolov3-tiny", "yolov4-tiny"])
def trained(request):
    """Three jitted steps of each tiny model; the step must be traced once."""
    v3 = request.param == "yolov3-tiny"
    # v3: SGD and the MSE box loss; v4: Adam and CIoU (augmentation is the host pipeline's, not the step's)
    config = model.Config(model=request.param, optimizer="sgd" if v3 else "adam", **TINY)
    state0 = contract.init(model, config)
    params0 = jax.device_get(state0.params)
    counted = chex.assert_max_traces(model.train_step, n=1)
    step = jax.jit(counted, donate_argnums=0)
    state, history = state0, []
    for i in range(3):
        state, metrics = step(state, _batch(config, i), jax.random.fold_in(jax.random.key(1), i))
        history.append(jax.device_get(metrics))
    chex.clear_trace_counter()
    return config, params0, state, history


def test_train_step_traced_once_changes_params_finite_loss(trained):
    config, params0, state, history = trained
    assert int(state.step) == 3
    for m in history:
        assert all(np.isfinite(v) for v in m.values()), m
        assert m["loss"] > 0
    assert history[0]["lr"] == 0.0 and history[1]["lr"] == pytest.approx(config.lr * 0.5 ** 4)
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), params0, jax.device_get(state.params))
    assert all(jax.tree.leaves(changed))  # every tensor moved
    assert isinstance(state.config, model.Config)  # static, not a leaf
    assert not any(isinstance(leaf, model.Config) for leaf in jax.tree.leaves(state))


def test_model_shapes(trained):
    config, _, state, _ = trained
    images = jnp.zeros((3, 64, 64, 3))
    heads = jax.eval_shape(lambda v, x: darknet.Darknet(state.network).apply(v, x), state.variables, images)
    chex.assert_shape(heads, [(3, 2, 2, 3, 8), (3, 4, 4, 3, 8)])
    out = model.predict(state, images, max_detections=7)
    chex.assert_shape([out["boxes"], out["scores"], out["classes"], out["valid"]],
                      [(3, 7, 4), (3, 7), (3, 7), (3, 7)])
    chex.assert_tree_all_finite(out)


def test_batch_norm_statistics_update(trained):
    config, _, state, _ = trained
    stats = jax.device_get(state.batch_stats)
    first = sorted(stats, key=lambda k: int(k.split("_")[1]))[0]
    assert not np.allclose(stats[first]["mean"], 0) and not np.allclose(stats[first]["var"], 1)


def test_learning_rate_schedule():
    config = model.Config(lr=0.01, burn_in=10, steps=(100, 200), scales=(0.1, 0.5))
    lr = model.learning_rate(config)
    np.testing.assert_allclose([float(lr(s)) for s in (0, 5, 10, 99, 100, 199, 200, 10_000)],
                               [0, 0.01 * 0.5 ** 4, 0.01, 0.01, 0.001, 0.001, 0.0005, 0.0005], rtol=1e-6)


def test_config_validation():
    with pytest.raises(ValueError, match="not divisible by 32"):
        model.Config(img_size=100)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        model.Config(batch_size=0)
    with pytest.raises(ValueError, match="scale_min <= scale_max"):
        model.Config(scale_min=1.3, scale_max=1.2)
    # a Config read back from JSON has lists in its nested tuples; it must come back equal and hashable
    back = model.Config(anchors=[[10, 14]] * 6, masks=[[3, 4, 5], [0, 1, 2]], steps=[5], scales=[0.1])
    assert back == model.Config(anchors=((10, 14),) * 6, masks=((3, 4, 5), (0, 1, 2)), steps=(5,), scales=(0.1,))
    hash(back)
    with pytest.raises(ValueError, match="box_loss"):
        model.Config(box_loss="l1")
    assert model.box_loss_for(model.Config(model="yolov3-tiny")) == "mse"
    assert model.box_loss_for(model.Config(model="yolov4-tiny")) == "ciou"
    masks = lambda **kw: [l.mask for l in model.network_for(model.Config(model="yolov4-tiny", **kw)).yolo_layers]  # noqa
    assert masks() == [(3, 4, 5), (1, 2, 3)] and masks(masks=((3, 4, 5), (0, 1, 2))) == [(3, 4, 5), (0, 1, 2)]


def _head_setup(box_loss="mse"):
    network = darknet.parse_cfg(darknet.yolov3_tiny_cfg(n_classes=2, width=0.125))
    # one ground truth on a 128-px input, 23x27 px like anchor 1 (so the finer head, mask 0,1,2, owns it), its
    # centre in cell (row 4, col 2) of that head's 8x8 grid
    boxes = jnp.array([[[0.3, 0.6, 23 / 128, 27 / 128]]])
    classes = jnp.array([[1]])
    raws = [jnp.zeros((1, 4, 4, 3, 7)), jnp.zeros((1, 8, 8, 3, 7))]
    return network, boxes, classes, raws


def test_loss_assigns_best_anchor_cell_and_head():
    network, boxes, classes, raws = _head_setup()
    # anchors are in input pixels; the net is 128 px so the ground truth is 23x27 px: best anchor = 1
    anchors = jnp.asarray(darknet.DARKNET_ANCHORS, jnp.float32) / 128
    assert int(loss.best_anchors(boxes[0, :, 2:], anchors)[0]) == 1
    grads = jax.jit(jax.grad(lambda r: loss.yolo_loss(r, network, boxes, classes, (128, 128))[0]))(raws)
    coarse, fine = grads  # heads in cfg order: 4x4 (mask 3,4,5) then 8x8 (mask 0,1,2)
    obj_fine = np.asarray(fine[0, ..., 4])
    row, col = int(0.6 * 8), int(0.3 * 8)
    assert obj_fine[row, col, 1] < 0  # pushed up where responsible
    others = np.ones_like(obj_fine, bool)
    others[row, col, 1] = False
    assert np.all(obj_fine[others] >= 0)  # pushed down (or ignored) elsewhere
    assert np.all(np.asarray(coarse[0, ..., 4]) >= 0)
    cls_grad = np.asarray(fine[0, row, col, 1, 5:])
    assert cls_grad[1] < 0 < cls_grad[0]  # class 1 up, class 0 down
    assert np.all(np.asarray(fine[0, ..., 5:])[others] == 0)  # no class loss where nobody is responsible


def test_iou_thresh_adds_positives_for_similar_anchors():
    network, boxes, classes, raws = _head_setup()
    grad = jax.jit(jax.grad(lambda r, t: loss.yolo_loss(r, network, boxes, classes, (128, 128), iou_thresh=t)[0]))
    row, col = int(0.6 * 8), int(0.3 * 8)
    # 23x27 vs anchors 10x14 (IoU 0.23), 23x27 (1), 37x58 (0.29); 81x82 (0.09) sits on the coarse head
    one = np.asarray(grad(raws, 1.0)[1][0, row, col, :, 4])
    assert one[1] < 0 and one[0] > 0 and one[2] > 0
    some = np.asarray(grad(raws, 0.25)[1][0, row, col, :, 4])
    assert some[1] < 0 and some[2] < 0 and some[0] > 0
    assert np.all(np.asarray(grad(raws, 0.25)[0][0, ..., 4]) >= 0)  # coarse anchors stay below 0.25


def test_ignore_threshold_silences_good_non_responsible_predictions():
    network, boxes, classes, raws = _head_setup()
    fine = raws[1]
    # make the neighbouring anchor 2 in the responsible cell predict the box almost exactly
    row, col = int(0.6 * 8), int(0.3 * 8)
    tw = np.log((23 / 128) / (37 / 128))
    th = np.log((27 / 128) / (58 / 128))
    tx = np.log((0.3 * 8 - col) / (1 - (0.3 * 8 - col)))
    ty = np.log((0.6 * 8 - row) / (1 - (0.6 * 8 - row)))
    fine = fine.at[0, row, col, 2, :4].set(jnp.array([tx, ty, tw, th]))
    grad = jax.jit(jax.grad(lambda f, t: loss.yolo_loss([raws[0], f], network, boxes, classes, (128, 128),
                                                        ignore_thresh=t)[0]))
    assert float(grad(fine, 0.7)[0, row, col, 2, 4]) == 0.0  # IoU ~ 1 > 0.7: no objectness loss
    assert float(grad(fine, 1.0)[0, row, col, 2, 4]) > 0


@pytest.mark.parametrize("box_loss", ["mse", "giou", "ciou"])
def test_box_loss_zero_at_perfect_prediction(box_loss):
    network, boxes, classes, raws = _head_setup()
    fine = raws[1]
    row, col = int(0.6 * 8), int(0.3 * 8)
    tx = np.log((0.3 * 8 - col) / (1 - (0.3 * 8 - col)))
    ty = np.log((0.6 * 8 - row) / (1 - (0.6 * 8 - row)))
    perfect = fine.at[0, row, col, 1, :4].set(jnp.array([tx, ty, 0.0, 0.0]))  # anchor 1 = the box's shape
    off = fine.at[0, row, col, 1, :4].set(jnp.array([tx + 1, ty, 0.5, 0.0]))
    box = jax.jit(lambda f: loss.yolo_loss([raws[0], f], network, boxes, classes, (128, 128), box_loss)[1])
    assert float(box(perfect)["loss_box"]) == pytest.approx(0.0, abs=1e-4)
    assert float(box(off)["loss_box"]) > 0.01
    assert float(box(perfect)["avg_iou"]) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------------------ CLIs


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    config = model.Config(n_classes=13, **{k: v for k, v in TINY.items() if k != "n_classes"})
    state = contract.init(model, config)
    d = tmp_path_factory.mktemp("export")
    weights, cfg = model.export_weights(state, str(d / "tiny.weights"))
    return state, weights, cfg


def test_export_round_trip(exported):
    state, weights, cfg = exported
    network = darknet.read_cfg(cfg)
    assert network == darknet.parse_cfg(open(cfg).read()) and network.n_classes == 13
    back = darknet.load_weights(weights, network)
    chex.assert_trees_all_close(back, jax.device_get(state.variables))


def test_detect_cli(exported, tmp_path):
    from detection import detect

    _, weights, cfg = exported
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 70), dtype=np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
    names = tmp_path / "digits.names"
    names.write_text("\n".join(data.OFFLINE_CLASSES) + "\n")
    out = tmp_path / "out"
    report = detect.main([str(tmp_path / "gray.png"), str(tmp_path / "rgba.png"), "--weights", weights, "--cfg", cfg,
                          "--names", str(names), "--out", str(out), "--thresh", "0.001", "--img-size", "64"])
    assert sorted(os.listdir(out)) == ["detections.json", "gray.png", "rgba.png"]
    saved = json.loads((out / "detections.json").read_text())
    assert saved == report and [r["width"] for r in saved] == [70, 40]
    for r in saved:
        for d in r["detections"]:
            x0, y0, x1, y1 = d["box_xyxy"]
            assert 0 <= x0 <= x1 <= r["width"] and 0 <= y0 <= y1 <= r["height"]
            assert d["class_name"] == data.OFFLINE_CLASSES[d["class_id"]] and 0.001 < d["score"] <= 1
    assert Image.open(out / "gray.png").size == (70, 50)

    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(SystemExit, match="cannot decode image .*bad.jpg"):
        detect.main([str(tmp_path / "bad.jpg"), "--weights", weights, "--cfg", cfg, "--out", str(out)])
    with pytest.raises(ValueError, match="multiple of 32"):
        detect.main([str(tmp_path / "gray.png"), "--weights", weights, "--cfg", cfg, "--out", str(out),
                     "--img-size", "100"])


def test_evaluate_cli(exported, tmp_path):
    from detection import evaluate

    _, weights, cfg = exported
    result = evaluate.main(["--weights", weights, "--cfg", cfg, "--data", "offline", "--img-size", "64", "--limit",
                            "4", "--batch-size", "4", "--out", str(tmp_path / "r.json")])
    assert 0.0 <= result["mAP"] <= 1.0 and result["n_images"] == 4  # an untrained network: near 0
    assert json.loads((tmp_path / "r.json").read_text())["mAP"] == result["mAP"]


def test_two_boxes_in_one_cell_keep_box_and_class_together():
    network, _, _, raws = _head_setup()
    # both boxes best match anchor 1 (23x27) in the same cell: A is 23x27 (class 1), B is 26x30 (class 0)
    boxes = jnp.array([[[0.30, 0.6, 23 / 128, 27 / 128], [0.31, 0.61, 26 / 128, 30 / 128]]])
    classes = jnp.array([[1, 0]])
    row, col = int(0.6 * 8), int(0.3 * 8)
    g = jax.jit(jax.grad(lambda r: loss.yolo_loss(r, network, boxes, classes, (128, 128))[0]))(raws)[1]
    cls_grad = np.asarray(g[0, row, col, 1, 5:])
    w_grad = float(g[0, row, col, 1, 2])  # raw tw = 0: zero gradient when the target is A, negative for B
    if cls_grad[1] < 0:  # A won the slot
        assert cls_grad[0] > 0 and abs(w_grad) < 1e-6
    else:
        assert cls_grad[0] < 0 < cls_grad[1] and w_grad < 0


def test_init_is_jittable_and_sets_the_head_prior():
    """The engine jits ``init`` (and evaluates it abstractly); the heads start at objectness 0.01, class 1/(C-1)."""
    import functools
    import math

    config = model.Config(n_classes=3, img_size=64, width=0.125)
    state = jax.jit(functools.partial(model.init, config=config))(jax.random.key(0))
    heads = [i for i, layer in enumerate(state.network.layers) if isinstance(layer, darknet.Yolo)]
    assert len(heads) == 2
    for i in heads:
        bias = np.asarray(state.params[f"conv_{i - 1}"]["bias"]).reshape(3, 8)
        np.testing.assert_allclose(bias[:, 4], math.log(0.01 / 0.99), rtol=1e-6)
        np.testing.assert_allclose(bias[:, 5:], math.log(1 / 2), rtol=1e-6)
        np.testing.assert_array_equal(bias[:, :4], 0.0)
