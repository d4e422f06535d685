"""Inference: image loading, darknet's letterbox, the jitted detector, and mapping boxes back to the image.

    detector = Detector.from_darknet("yolov3-tiny.cfg", "yolov3-tiny.weights")
    dets = detector(load_image("dog.jpg"))   # list of Detection, pixel xyxy in the original image
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from detection import boxes as box_ops
from detection import darknet


class ImageError(ValueError):
    """An image file that cannot be read."""


def load_image(path: str) -> np.ndarray:
    """uint8 RGB [H, W, 3]. Grayscale, palette and 16-bit images are converted to RGB; an alpha channel is
    dropped (as darknet's loader does when it asks stb_image for 3 channels)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit gray: rescale to 8 bits before RGB
                arr = np.asarray(im, np.float64)
                top = 65535.0 if im.mode.startswith("I;16") else max(float(arr.max()), 1.0)
                return np.repeat(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"cannot decode image {path!r}: {e}") from None


def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W] / [H, W, 1] / [H, W, 3] / [H, W, 4] -> uint8 [H, W, 3] (gray repeated, alpha dropped)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got shape {image.shape}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[..., :3]


def darknet_resize(image_HxWxC: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """darknet's resize_image: separable bilinear with corner-aligned sampling, float32 in and out."""
    im = np.asarray(image_HxWxC, np.float32)
    h, w = im.shape[:2]

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
        s = np.arange(n_out, dtype=np.float32) * scale  # float32, as darknet computes it
        i0 = np.minimum(s.astype(np.int64), n_in - 1)
        d = (s - i0).astype(np.float32)
        i1 = np.minimum(i0 + 1, n_in - 1)
        if n_in == 1:
            d[:] = 0
        # darknet takes the last column as is; we do the same for the last row (darknet's float rounding can
        # land it one row short there)
        d[-1] = 0.0
        i0[-1] = n_in - 1 if n_out > 1 else i0[-1]
        return i0, i1, d

    x0, x1, dx = axis(w, out_w)
    part = im[:, x0] * (1 - dx)[None, :, None] + im[:, x1] * dx[None, :, None]
    y0, y1, dy = axis(h, out_h)
    return part[y0] * (1 - dy)[:, None, None] + part[y1] * dy[:, None, None]


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """Where an image of ``image_hw`` sits inside the network input of ``net_hw`` (darknet's letterbox_image)."""

    image_hw: tuple[int, int]
    net_hw: tuple[int, int]

    @property
    def new_hw(self) -> tuple[int, int]:
        (h, w), (nh, nw) = self.image_hw, self.net_hw
        if nw / w < nh / h:
            return (h * nw) // w, nw
        return nh, (w * nh) // h

    @property
    def offset_yx(self) -> tuple[int, int]:
        (nh, nw), (rh, rw) = self.net_hw, self.new_hw
        return (nh - rh) // 2, (nw - rw) // 2

    def boxes_to_image(self, cxcywh_Nx4: np.ndarray) -> np.ndarray:
        """Normalised network-input cxcywh -> pixel xyxy in the original image, clipped to it (darknet's
        correct_yolo_boxes followed by the clipping in draw_detections)."""
        b = np.asarray(cxcywh_Nx4, np.float64).reshape(-1, 4)
        (h, w), (nh, nw), (rh, rw), (oy, ox) = self.image_hw, self.net_hw, self.new_hw, self.offset_yx
        cx = (b[:, 0] * nw - ox) / rw * w
        cy = (b[:, 1] * nh - oy) / rh * h
        bw = b[:, 2] * nw / rw * w
        bh = b[:, 3] * nh / rh * h
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=-1)
        return np.clip(xyxy, 0, [w, h, w, h])

    def boxes_to_net(self, cxcywh_Nx4: np.ndarray) -> np.ndarray:
        """Normalised image cxcywh -> normalised network-input cxcywh (for training on letterboxed images)."""
        b = np.asarray(cxcywh_Nx4, np.float32).reshape(-1, 4)
        (nh, nw), (rh, rw), (oy, ox) = self.net_hw, self.new_hw, self.offset_yx
        return np.stack([(b[:, 0] * rw + ox) / nw, (b[:, 1] * rh + oy) / nh, b[:, 2] * rw / nw, b[:, 3] * rh / nh],
                        axis=-1).astype(np.float32)


def letterbox(image: np.ndarray, net_hw: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """uint8/float RGB image -> float32 [net_h, net_w, 3] in [0, 1], resized keeping its aspect ratio (darknet's
    bilinear) and centred on 0.5 grey; plus the :class:`Letterbox` to map boxes back."""
    image = to_rgb(image)
    lb = Letterbox(tuple(image.shape[:2]), tuple(net_hw))  # type: ignore[arg-type]
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    (rh, rw), (oy, ox) = lb.new_hw, lb.offset_yx
    out = np.full((*net_hw, 3), 0.5, np.float32)
    if (rh, rw) == lb.image_hw:
        resized = image.astype(np.float32) / scale
    else:
        resized = darknet_resize(image.astype(np.float32) / scale, rw, rh)
    out[oy:oy + rh, ox:ox + rw] = resized
    return out, lb


def check_size(net_hw: tuple[int, int]) -> None:
    if net_hw[0] % 32 or net_hw[1] % 32 or min(net_hw) <= 0:
        raise ValueError(f"input size {net_hw[0]}x{net_hw[1]} is not a positive multiple of 32 (YOLO downsamples "
                         "by 32); try " + "x".join(str(max(32, round(s / 32) * 32)) for s in net_hw))


@dataclasses.dataclass
class Detection:
    box: tuple[float, float, float, float]  # pixel x0, y0, x1, y1 in the original image
    score: float
    class_id: int
    class_name: str

    def to_json(self) -> dict:
        return {"class_id": self.class_id, "class_name": self.class_name, "score": round(self.score, 6),
                "box_xyxy": [round(float(v), 2) for v in self.box]}


@functools.partial(jax.jit, static_argnames=("network", "thresh", "iou_thresh", "max_detections"))
def detect_batch(variables: dict, images_BxHxWx3: jax.Array, network: darknet.Network, thresh: float = 0.25,
                 iou_thresh: float = 0.45, max_detections: int = 100) -> dict[str, jax.Array]:
    """Network + decoding + class-aware NMS, fixed shapes (see :func:`boxes.postprocess`)."""
    heads = darknet.Darknet(network).apply(variables, images_BxHxWx3, train=False)
    decoded = box_ops.decode(heads, network, images_BxHxWx3.shape[1:3])
    return box_ops.postprocess(*decoded, thresh=thresh, iou_thresh=iou_thresh, max_detections=max_detections)


@dataclasses.dataclass
class Detector:
    network: darknet.Network
    variables: dict
    class_names: Sequence[str]
    net_hw: tuple[int, int]

    @classmethod
    def from_darknet(cls, cfg: str, weights: str, class_names: Sequence[str] | None = None,
                     size: int | None = None) -> "Detector":
        network = darknet.load_network(cfg)
        variables = jax.tree.map(jnp.asarray, darknet.load_weights(weights, network))
        net_hw = (size, size) if size else (network.net.height, network.net.width)
        check_size(net_hw)
        names = list(class_names) if class_names else default_names(network.n_classes)
        if len(names) != network.n_classes:
            raise ValueError(f"{len(names)} class names for a network with {network.n_classes} classes")
        return cls(network, variables, names, net_hw)

    def __call__(self, images: np.ndarray | Sequence[np.ndarray], thresh: float = 0.25, iou_thresh: float = 0.45,
                 max_detections: int = 100) -> list[Detection] | list[list[Detection]]:
        single = isinstance(images, np.ndarray) and images.ndim in (2, 3)
        batch = [images] if single else list(images)
        boxed = [letterbox(im, self.net_hw) for im in batch]
        out = detect_batch(self.variables, jnp.asarray(np.stack([b for b, _ in boxed])), self.network,
                           thresh=thresh, iou_thresh=iou_thresh, max_detections=max_detections)
        out = jax.device_get(out)
        results = []
        for i, (_, lb) in enumerate(boxed):
            v = out["valid"][i]
            xyxy = lb.boxes_to_image(out["boxes"][i][v])
            results.append([Detection(tuple(float(t) for t in b), float(s), int(c), self.class_names[int(c)])
                            for b, s, c in zip(xyxy, out["scores"][i][v], out["classes"][i][v])])
        return results[0] if single else results


def default_names(n_classes: int) -> list[str]:
    from detection import names

    if n_classes == len(names.COCO):
        return list(names.COCO)
    if n_classes == len(names.VOC):
        return list(names.VOC)
    return [f"class{i}" for i in range(n_classes)]


def read_names(path: str) -> list[str]:
    """A darknet .names file: one class name per line (blank lines at the end ignored)."""
    with open(path) as f:
        lines = [line.strip() for line in f.read().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def draw(image: np.ndarray, detections: Sequence[Detection]) -> "PIL.Image.Image":  # noqa: F821
    """The image with each detection's box and 'name score' label."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(to_rgb(image).astype(np.uint8))
    d = ImageDraw.Draw(im)
    thick = max(1, round(min(im.size) / 200))
    for det in detections:
        hue = (det.class_id * 0.618034) % 1.0
        color = tuple(int(255 * v) for v in _hsv_to_rgb(hue, 0.85, 0.95))
        x0, y0, x1, y1 = det.box
        d.rectangle([x0, y0, x1, y1], outline=color, width=thick)
        label = f"{det.class_name} {det.score:.2f}"
        tx0, ty0, tx1, ty1 = d.textbbox((x0, y0), label)
        ty = max(0, y0 - (ty1 - ty0) - 2)
        d.rectangle([x0, ty, x0 + (tx1 - tx0) + 4, ty + (ty1 - ty0) + 2], fill=color)
        d.text((x0 + 2, ty), label, fill=(0, 0, 0))
    return im


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    import colorsys

    return colorsys.hsv_to_rgb(h, s, v)
