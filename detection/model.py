"""YOLOv3-tiny (Redmon & Farhadi 2018) and YOLOv4-tiny (Bochkovskiy, Wang & Liao 2020; Wang et al. 2021) in
JAX/Flax, with the model contract of the project (``Config``, ``init``, ``train_step``).

The networks are darknet's own layer lists (``detection/darknet.py`` builds them from cfg text, so the official
``.weights`` load into them); this module adds training: the YOLOv3 loss (``detection/loss.py``), darknet's
optimiser (SGD with momentum, weight decay on conv kernels, learning rate warm-up ``lr * (step / burn_in) ** 4``
then ``steps``/``scales`` drops) or Adam. The augmentation (``detection/augment.py``) runs on the host, in the
batch pipeline (``data.DetectionSource``); ``train_step`` is the loss and the update only.

    python -m detection.train --model yolov3-tiny --dataset offline --steps 2000      # on gan_jax.engine

    from detection import model, data, train
    config = model.Config(model="yolov3-tiny", n_classes=13, img_size=128, batch_size=16)
    state = train.train(config, data.OfflineDetection("train", size=128), steps=1000, seed=0)

A batch is a dict of fixed-shape arrays: 'image' float32 [B, H, W, 3] in [0, 1], 'boxes' float32 [B, M, 4]
(normalised cx, cy, w, h), 'classes' int32 [B, M] (-1 = padding).
Measured (``benchmarks/detection_quality.py``, offline set, 128 px, batch 8, from scratch on 2 shared CPU cores):
VOC mAP@0.5 on the 500 held-out images 0.911 (yolov3-tiny, 4,000 steps, 10.5 min) and 0.731 (yolov4-tiny, 3,000
steps, 24 min).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from detection import boxes as box_ops, darknet, loss as loss_lib

DATA = "detection"  # images with boxes and class ids
NAME = "yolo"  # the engine's name for this module's runs (checkpoint metadata); Config.model says which network


@dataclasses.dataclass(frozen=True)
class Config:
    model: str = "yolov3-tiny"  # 'yolov3-tiny' | 'yolov4-tiny'
    n_classes: int = 80
    img_size: int = 416  # multiple of 32
    batch_size: int = 64
    max_boxes: int = 50  # boxes per image in a batch (padded with class -1)
    width: float = 1.0  # multiplies every hidden layer's filters (1.0 = the published network)
    anchors: tuple[tuple[float, float], ...] = darknet.DARKNET_ANCHORS  # (w, h) in input pixels
    masks: tuple[tuple[int, ...], ...] | None = None  # anchors of the (coarse, fine) heads; None = the cfg's
    # optimisation (darknet's [net] defaults for yolov3-tiny)
    optimizer: str = "sgd"  # 'sgd' (darknet: momentum, decay on conv kernels) | 'adam' (AdamW, same decay mask)
    lr: float = 0.001
    momentum: float = 0.9
    decay: float = 0.0005
    burn_in: int = 1000
    burn_in_power: float = 4.0
    steps: tuple[int, ...] = (400000, 450000)
    scales: tuple[float, ...] = (0.1, 0.1)
    grad_clip: float = 0.0  # global-norm clip, 0 = off (darknet has none)
    bn_momentum: float = 0.99  # BN running averages (darknet: 0.99; short runs want less, e.g. 0.9)
    # loss
    box_loss: str = "auto"  # 'mse' | 'giou' | 'ciou'; 'auto' = the cfg's (yolov3-tiny mse, yolov4-tiny ciou)
    ignore_thresh: float = 0.7
    iou_thresh: float = 1.0  # AlexeyAB's: also train every anchor with shape IoU above this (1.0 = off, darknet)
    iou_normalizer: float = 0.07  # weight of the GIoU/CIoU term (yolov4-tiny.cfg)
    # augmentation (darknet's hue/saturation/exposure; jitter as a zoom range and a shift; Cutout)
    scale_min: float = 0.75
    scale_max: float = 1.25
    translate: float = 0.2
    flip: float = 0.5
    hue: float = 0.1
    saturation: float = 1.5
    exposure: float = 1.5
    cutout_holes: int = 0
    cutout_size: float = 0.25  # side of each Cutout square, as a fraction of img_size
    # data
    dataset: str = "offline"

    def __post_init__(self):
        # a Config read back from JSON (gan_jax.engine.config_from_dict) has lists inside its tuples; a Config
        # must stay hashable (it is a static part of State and keys the network cache)
        for name in ("anchors", "masks"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(tuple(v) for v in value))
        for name in ("steps", "scales"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("n_classes", "img_size", "batch_size", "max_boxes", "width", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.scale_min <= self.scale_max or self.scale_min <= 0:
            raise ValueError(f"need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}")
        if not 0 <= self.flip <= 1 or not 0 <= self.translate < 1:
            raise ValueError(f"flip must be in [0, 1] and translate in [0, 1), got {self.flip}, {self.translate}")
        if self.img_size % 32:
            raise ValueError(f"img_size={self.img_size} is not divisible by 32")
        if self.model not in darknet.BUILTIN:
            raise ValueError(f"unknown model {self.model!r}; choose from {', '.join(darknet.BUILTIN)}")
        if self.box_loss not in ("auto", "mse", "giou", "ciou"):
            raise ValueError(f"box_loss={self.box_loss!r}: use 'auto', 'mse', 'giou' or 'ciou'")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer={self.optimizer!r}: use 'sgd' or 'adam'")
        if len(self.steps) != len(self.scales):
            raise ValueError("steps and scales need the same length (darknet's policy=steps)")


@functools.lru_cache(maxsize=None)
def network_for(config: Config) -> darknet.Network:
    return darknet.parse_cfg(cfg_text(config))


def cfg_text(config: Config) -> str:
    """The darknet cfg of the configured network (published layer list, our classes/anchors/width/masks)."""
    masks = {"masks": config.masks} if config.masks is not None else {}
    return darknet.BUILTIN[config.model](n_classes=config.n_classes, anchors=config.anchors, width=config.width,
                                         size=config.img_size, **masks)


def box_loss_for(config: Config) -> str:
    if config.box_loss != "auto":
        return config.box_loss
    return network_for(config).yolo_layers[0].iou_loss


@flax.struct.dataclass
class State:
    params: Any
    batch_stats: Any
    opt_state: Any
    step: jax.Array
    config: Config = flax.struct.field(pytree_node=False)

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}

    @property
    def network(self) -> darknet.Network:
        return network_for(self.config)


def learning_rate(config: Config):
    """darknet's policy=steps with burn_in: lr * (step/burn_in)^power while warming up, then x scales[i] from
    steps[i] on."""

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        rate = jnp.asarray(config.lr, jnp.float32)
        for s, scale in zip(config.steps, config.scales):
            rate = jnp.where(step >= s, rate * scale, rate)
        if config.burn_in > 0:
            warm = config.lr * jnp.power(step / config.burn_in, config.burn_in_power)
            rate = jnp.where(step < config.burn_in, warm, rate)
        return rate

    return schedule


def _kernel_mask(params):
    return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def optimizer(config: Config) -> optax.GradientTransformation:
    schedule = learning_rate(config)
    if config.optimizer == "sgd":
        tx = optax.chain(optax.add_decayed_weights(config.decay, mask=_kernel_mask),
                         optax.sgd(schedule, momentum=config.momentum))
    else:
        tx = optax.adamw(schedule, b1=config.momentum, weight_decay=config.decay, mask=_kernel_mask)
    if config.grad_clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
    return tx


def init(rng: jax.Array, config: Config) -> State:
    network = network_for(config)
    variables = darknet.init_variables(rng, network)
    params = _prior_head_bias(variables["params"], network)
    return State(params=params, batch_stats=variables["batch_stats"], opt_state=optimizer(config).init(params),
                 step=jnp.zeros((), jnp.int32), config=config)


def _prior_head_bias(params: dict, network: darknet.Network) -> dict:
    """Starts each head at objectness 0.01 and class probability 1/C. darknet starts these biases at 0; the prior
    (Lin et al. 2017, RetinaNet) keeps the thousands of negatives from swamping the first steps from scratch.
    (jnp only: the engine jits ``init`` and evaluates its shapes abstractly.)"""
    params = dict(params)
    for i, layer in enumerate(network.layers):
        if isinstance(layer, darknet.Yolo):
            conv = dict(params[f"conv_{i - 1}"])
            k = 5 + layer.classes
            prior = jnp.full((k,), 0.0).at[4].set(math.log(0.01 / 0.99))
            prior = prior.at[5:].set(math.log(1.0 / max(layer.classes - 1, 1)))
            keep = jnp.zeros((k,), bool).at[4:].set(True)
            bias = conv["bias"].reshape(len(layer.mask), k)
            conv["bias"] = jnp.where(keep, prior, bias).reshape(-1)
            params[f"conv_{i - 1}"] = conv
    return params


def train_step(state: State, batch: dict, rng: jax.Array) -> tuple[State, dict]:
    """One SGD/Adam step on a batch (already augmented on the host by ``data.DetectionSource``); pure, jit it
    with ``donate_argnums=0``. ``rng`` is the engine's step key: nothing here is random (the augmentation's
    randomness lives in the host pipeline, seeded by the batch number), so it is unused."""
    del rng
    config = state.config
    network = network_for(config)
    net_hw = (config.img_size, config.img_size)
    images = jnp.asarray(batch["image"], jnp.float32)
    boxes, classes = jnp.asarray(batch["boxes"], jnp.float32), jnp.asarray(batch["classes"], jnp.int32)

    def loss_fn(params):
        heads, updates = darknet.Darknet(network, config.bn_momentum).apply(
            {"params": params, "batch_stats": state.batch_stats}, images, train=True, mutable=["batch_stats"])
        loss, metrics = loss_lib.yolo_loss(heads, network, boxes, classes, net_hw, box_loss_for(config),
                                           config.ignore_thresh, config.iou_normalizer, config.iou_thresh)
        return loss, (metrics, updates["batch_stats"])

    grads, (metrics, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer(config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, lr=learning_rate(config)(state.step), grad_norm=optax.tree.norm(grads))
    return state.replace(params=params, batch_stats=batch_stats, opt_state=opt_state, step=state.step + 1), metrics


@functools.partial(jax.jit, static_argnames=("thresh", "iou_thresh", "max_detections"))
def predict(state: State, images_BxHxWx3: jax.Array, thresh: float = 0.005, iou_thresh: float = 0.45,
            max_detections: int = 100) -> dict[str, jax.Array]:
    """Detections on letterboxed images, boxes normalised to the input (see :func:`boxes.postprocess`).
    Defaults are darknet's evaluation settings (thresh 0.005, NMS 0.45)."""
    network = network_for(state.config)
    heads = darknet.Darknet(network).apply(state.variables, images_BxHxWx3, train=False)
    decoded = box_ops.decode(heads, network, images_BxHxWx3.shape[1:3])
    return box_ops.postprocess(*decoded, thresh=thresh, iou_thresh=iou_thresh, max_detections=max_detections)


def export_weights(state: State, path: str) -> tuple[str, str]:
    """Writes the trained network as darknet files: ``path`` (.weights) and ``path`` with .cfg (the layer list),
    usable by ``python -m detection.detect --cfg ... --weights ...`` and by darknet itself."""
    config = state.config
    cfg_path = path.rsplit(".", 1)[0] + ".cfg"
    with open(cfg_path, "w") as f:
        f.write(cfg_text(config))
    seen = int(state.step) * config.batch_size
    darknet.save_weights(path, jax.device_get(state.variables), state.network, seen=seen)
    return path, cfg_path
