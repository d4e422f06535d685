"""Detection datasets and the host batch pipeline (numpy).

Every dataset is a sequence of :class:`Example` (uint8 RGB image, boxes as normalised cx, cy, w, h, int class
ids) with ``class_names``:

- :class:`OfflineDetection` (the default, no files, no network): MNIST digits and simple shapes pasted on crops of
  scikit-image's bundled photos, with exact boxes; deterministic from a seed.
- :class:`DarknetFolder`: darknet/YOLO label folders (an image and a ``.txt`` of ``class cx cy w h`` lines each).
- :class:`CocoJson`: a COCO ``instances_*.json`` and its image folder.
- :class:`TfdsDetection`: tensorflow-datasets ``voc`` / ``coco`` when already prepared (never downloads).

:class:`DetectionSource` letterboxes to the network size, pads boxes to a fixed count and augments, giving the
batch dicts that ``model.train_step`` takes; :class:`DetectionLoader` serves them (shuffled, resumable,
prefetched) to the engine.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from typing import Sequence

import numpy as np

from detection import augment, inference
from gan_jax.data import Loader


@dataclasses.dataclass
class Example:
    image: np.ndarray  # uint8 [H, W, 3]
    boxes: np.ndarray  # float32 [n, 4] normalised cx, cy, w, h
    classes: np.ndarray  # int32 [n]
    difficult: np.ndarray | None = None  # bool [n] (VOC); difficult boxes neither count nor penalise in VOC mAP
    image_id: int | str | None = None


# ----------------------------------------------------------------------------------------------------------------
# The offline set

SHAPES = ("circle", "square", "triangle")
OFFLINE_CLASSES = tuple(str(d) for d in range(10)) + SHAPES


class OfflineDetection:
    """Generated detection images with exact boxes; 13 classes: the digits '0'..'9' (class id = digit) and
    'circle', 'square', 'triangle' (ids 10, 11, 12).

    Image i of a split is a function of (seed, split, i) only. Each image: a random square crop (30-100% of the
    shorter side) of one of scikit-image's bundled photos, resized to ``size``; then 1 to ``max_objects`` objects,
    the class uniform over the 13, the object's height uniform in [``min_scale``, ``max_scale``] x size, a random
    position fully inside the image and not overlapping earlier objects, in a random colour far (in luminance)
    from the background under it, blended with an anti-aliased alpha mask. Digits come from offline MNIST ('train'
    digits for the 'train' split, the 500 held-out 'test' digits for the 'test' split), cropped to their ink and
    keeping their aspect ratio. The box is exact: the tight bounding box of the pixels whose alpha is >= 0.5.
    """

    class_names = OFFLINE_CLASSES

    def __init__(self, split: str = "train", size: int = 128, n: int | None = None, seed: int = 0,
                 max_objects: int = 4, min_scale: float = 0.15, max_scale: float = 0.4):
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")
        from gan_jax.data.offline import bundled_photos, mnist, photo

        self.split, self.size, self.seed = split, size, seed
        self.n = n if n is not None else (4000 if split == "train" else 500)
        self.max_objects, self.min_scale, self.max_scale = max_objects, min_scale, max_scale
        self._digits, self._digit_labels = mnist(split)
        self._photos = [photo(name) for name in bundled_photos()]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Example:
        if not 0 <= i < self.n:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, 0 if self.split == "train" else 1, i])
        image = self._background(rng)
        boxes_xyxy: list[np.ndarray] = []
        classes: list[int] = []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            cls = int(rng.integers(0, len(OFFLINE_CLASSES)))
            height = int(round(rng.uniform(self.min_scale, self.max_scale) * self.size))
            alpha = self._digit_alpha(cls, height, rng) if cls < 10 else _shape_alpha(SHAPES[cls - 10], height, rng)
            placed = self._place(alpha, boxes_xyxy, rng)
            if placed is None:
                continue
            y, x = placed
            ah, aw = alpha.shape
            region = image[y:y + ah, x:x + aw].astype(np.float32)
            color = _contrasting_color(region, alpha, rng)
            a = alpha[..., None]
            image[y:y + ah, x:x + aw] = np.clip(region * (1 - a) + color * a + 0.5, 0, 255).astype(np.uint8)
            ys, xs = np.nonzero(alpha >= 0.5)
            boxes_xyxy.append(np.array([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1], np.float32))
            classes.append(cls)
        b = np.stack(boxes_xyxy) / self.size
        cxcywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], -1)
        return Example(image, cxcywh.astype(np.float32), np.asarray(classes, np.int32), image_id=i)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        photo = self._photos[int(rng.integers(len(self._photos)))]
        h, w = photo.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(h, w))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(photo[y:y + side, x:x + side])
        return np.array(crop.resize((self.size, self.size), Image.BILINEAR))

    def _digit_alpha(self, digit: int, height: int, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        candidates = np.flatnonzero(self._digit_labels == digit)
        ink = self._digits[int(rng.choice(candidates)), :, :, 0]
        ys, xs = np.nonzero(ink > 32)
        ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        width = max(2, int(round(height * ink.shape[1] / ink.shape[0])))
        alpha = np.asarray(Image.fromarray(ink).resize((width, height), Image.BILINEAR), np.float32) / 255.0
        return _ensure_ink(alpha)

    def _place(self, alpha: np.ndarray, taken: list[np.ndarray], rng: np.random.Generator
               ) -> tuple[int, int] | None:
        ah, aw = alpha.shape
        if ah > self.size or aw > self.size:
            return None
        for _ in range(30):
            y, x = int(rng.integers(0, self.size - ah + 1)), int(rng.integers(0, self.size - aw + 1))
            if all(x + aw <= t[0] or t[2] <= x or y + ah <= t[1] or t[3] <= y for t in taken):
                return y, x
        return None


def _ensure_ink(alpha: np.ndarray) -> np.ndarray:
    if (alpha >= 0.5).any():
        return alpha
    return alpha / max(float(alpha.max()), 1e-6)


def _shape_alpha(shape: str, height: int, rng: np.random.Generator) -> np.ndarray:
    """Anti-aliased alpha of a filled shape (drawn at 4x and averaged down)."""
    from PIL import Image, ImageDraw

    aspect = rng.uniform(0.7, 1.3) if shape != "circle" else 1.0
    width = max(2, int(round(height * aspect)))
    s = 4
    im = Image.new("L", (width * s, height * s), 0)
    d = ImageDraw.Draw(im)
    if shape == "circle":
        d.ellipse([0, 0, width * s - 1, height * s - 1], fill=255)
    elif shape == "square":
        d.rectangle([0, 0, width * s - 1, height * s - 1], fill=255)
    else:
        d.polygon([(width * s / 2, 0), (width * s - 1, height * s - 1), (0, height * s - 1)], fill=255)
    big = np.asarray(im, np.float32) / 255.0
    return _ensure_ink(big.reshape(height, s, width, s).mean(axis=(1, 3)))


def _contrasting_color(region: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour whose luminance differs from the background under the object by at least 90/255."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    bg = float((region @ weights * alpha).sum() / max(alpha.sum(), 1e-6))
    for _ in range(20):
        color = rng.uniform(0, 255, 3).astype(np.float32)
        if abs(float(color @ weights) - bg) >= 90:
            return color
    return np.full(3, 0.0 if bg > 127 else 255.0, np.float32)


# ----------------------------------------------------------------------------------------------------------------
# darknet / YOLO label folders

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class LabelError(ValueError):
    """A label file line that is malformed or out of range; the message names the file and the line."""


def read_darknet_labels(path: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One darknet label file -> (boxes [n, 4] cx cy w h, classes [n]).

    Each line is ``class cx cy w h`` with the box normalised to the image. A class id outside 0..n_classes-1, a
    centre outside [0, 1], or a width/height outside (0, 1] is an error naming the file and line (darknet would
    silently train on it). A box that is valid but pokes past the border is clipped to the image.
    """
    boxes, classes = [], []
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) != 5:
                raise LabelError(f"{where}: expected 'class cx cy w h' (5 fields), got {len(fields)}: {line.strip()!r}")
            try:
                cls = int(fields[0])
                cx, cy, w, h = (float(v) for v in fields[1:])
            except ValueError:
                raise LabelError(f"{where}: cannot parse {line.strip()!r} as 'class cx cy w h'") from None
            if not 0 <= cls < n_classes:
                raise LabelError(f"{where}: class id {cls} is outside 0..{n_classes - 1}")
            if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1):
                raise LabelError(f"{where}: box (cx={cx}, cy={cy}, w={w}, h={h}) is out of range: centre must be "
                                 "in [0, 1] and width/height in (0, 1], normalised to the image")
            x0, y0, x1, y1 = max(cx - w / 2, 0), max(cy - h / 2, 0), min(cx + w / 2, 1), min(cy + h / 2, 1)
            boxes.append([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])
            classes.append(cls)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int32)


def darknet_label_path(image_path: str) -> str:
    """darknet's rule: '/images/' -> '/labels/' and the extension -> '.txt'; falls back to a .txt beside the image."""
    stem = os.path.splitext(image_path)[0]
    sep = os.sep
    if f"{sep}images{sep}" in image_path:
        swapped = os.path.splitext(image_path.replace(f"{sep}images{sep}", f"{sep}labels{sep}"))[0] + ".txt"
        if os.path.exists(swapped):
            return swapped
    return stem + ".txt"


class DarknetFolder:
    """Images in a folder (or listed one per line in a .txt, darknet's train.txt) with darknet label files.

    Labels are read and checked when the dataset is built, so a bad file fails at once. An image without a label
    file has no objects (darknet's behaviour).
    """

    def __init__(self, source: str, class_names: Sequence[str] | str):
        if isinstance(class_names, str):
            class_names = inference.read_names(class_names)
        self.class_names = tuple(class_names)
        if os.path.isdir(source):
            paths = sorted(p for p in glob.glob(os.path.join(source, "**", "*"), recursive=True)
                           if p.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(source):
            base = os.path.dirname(os.path.abspath(source))
            with open(source) as f:
                paths = [p if os.path.isabs(p) else os.path.join(base, p) for p in (l.strip() for l in f) if p]
        else:
            raise FileNotFoundError(f"{source!r} is neither an image folder nor a list file")
        if not paths:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {source!r}")
        self.paths = paths
        self.labels = []
        for p in paths:
            label = darknet_label_path(p)
            if os.path.exists(label):
                self.labels.append(read_darknet_labels(label, len(self.class_names)))
            else:
                self.labels.append((np.zeros((0, 4), np.float32), np.zeros((0,), np.int32)))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Example:
        boxes, classes = self.labels[i]
        return Example(inference.load_image(self.paths[i]), boxes, classes, image_id=self.paths[i])


class CocoJson:
    """A COCO detection json (``images``, ``annotations`` with pixel [x, y, w, h], ``categories``).

    Category ids are mapped to 0..K-1 in increasing id order (``category_ids`` maps back). Crowd annotations
    (iscrowd=1) are left out, as in COCO evaluation; boxes are clipped to the image; empty boxes are dropped.
    """

    def __init__(self, annotation_file: str, image_dir: str):
        with open(annotation_file) as f:
            coco = json.load(f)
        cats = sorted(coco["categories"], key=lambda c: c["id"])
        self.category_ids = tuple(c["id"] for c in cats)
        self.class_names = tuple(c["name"] for c in cats)
        index = {cid: k for k, cid in enumerate(self.category_ids)}
        self.images = sorted(coco["images"], key=lambda im: im["id"])
        per_image: dict[int, list] = {im["id"]: [] for im in self.images}
        for ann in coco.get("annotations", []):
            if ann.get("iscrowd", 0):
                continue
            if ann["category_id"] not in index:
                raise LabelError(f"{annotation_file}: annotation {ann.get('id')} has unknown category_id "
                                 f"{ann['category_id']}")
            if ann["image_id"] not in per_image:
                raise LabelError(f"{annotation_file}: annotation {ann.get('id')} refers to missing image "
                                 f"{ann['image_id']}")
            per_image[ann["image_id"]].append(ann)
        self.image_dir = image_dir
        self.labels = []
        for im in self.images:
            w, h = im["width"], im["height"]
            boxes, classes = [], []
            for ann in per_image[im["id"]]:
                x, y, bw, bh = ann["bbox"]
                x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
                if x1 <= x0 or y1 <= y0:
                    continue
                boxes.append([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h])
                classes.append(index[ann["category_id"]])
            self.labels.append((np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int32)))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Example:
        boxes, classes = self.labels[i]
        image = inference.load_image(os.path.join(self.image_dir, self.images[i]["file_name"]))
        return Example(image, boxes, classes, image_id=self.images[i]["id"])


# ----------------------------------------------------------------------------------------------------------------
# tensorflow-datasets (already prepared only)

TFDS_NAMES = {"voc": "voc/2007", "coco": "coco/2017"}


class TfdsDetection:
    """tfds ``voc`` (default config 2007) or ``coco`` (2017), read with ``tfds.data_source`` (no TensorFlow).

    Raises FileNotFoundError with the command that prepares the dataset when it is not prepared in ``data_dir``;
    nothing is ever downloaded from here.
    """

    def __init__(self, name: str = "voc", split: str = "train", data_dir: str | None = None):
        import tensorflow_datasets as tfds

        full = TFDS_NAMES.get(name, name)
        builder = tfds.builder(full, data_dir=data_dir)
        if not builder.is_prepared():
            raise FileNotFoundError(
                f"tensorflow-datasets '{full}' is not prepared in {builder.data_dir!r}. Prepare it once on a machine "
                f"with network access and TensorFlow (pip install 'gan-jax[tf]'):\n"
                f"    tfds build {full} --data_dir {data_dir or '~/tensorflow_datasets'}\n"
                "(COCO also needs its manual download, see the tfds catalog), then pass the same data_dir.")
        if builder.info.splits and split.split("[")[0] not in builder.info.splits:
            raise ValueError(f"tensorflow-datasets '{full}' has no split {split!r} (it has "
                             f"{', '.join(sorted(builder.info.splits))})")
        self.source = tfds.data_source(full, split=split, data_dir=data_dir)
        self.class_names = tuple(builder.info.features["objects"]["label"].names)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Example:
        return self.example_from_record(self.source[i], i)

    @staticmethod
    def example_from_record(record: dict, index: int = 0) -> Example:
        """A tfds voc/coco record ('image', 'objects': {'bbox' [n, 4] normalised ymin, xmin, ymax, xmax, 'label',
        VOC's 'is_difficult'}) -> Example. COCO's crowd boxes ('is_crowd') are dropped, as in CocoJson."""
        image = inference.to_rgb(np.asarray(record["image"]))
        objects = record["objects"]
        yxyx = np.asarray(objects["bbox"], np.float32).reshape(-1, 4)
        labels = np.asarray(objects["label"], np.int32).reshape(-1)
        keep = ~np.asarray(objects.get("is_crowd", np.zeros(len(labels), bool)), bool).reshape(-1)
        yxyx, labels = yxyx[keep], labels[keep]
        boxes = np.stack([(yxyx[:, 1] + yxyx[:, 3]) / 2, (yxyx[:, 0] + yxyx[:, 2]) / 2,
                          yxyx[:, 3] - yxyx[:, 1], yxyx[:, 2] - yxyx[:, 0]], axis=-1)
        difficult = objects.get("is_difficult")
        if difficult is not None:
            difficult = np.asarray(difficult, bool).reshape(-1)[keep]
        image_id = record.get("image/id", index)
        return Example(image, boxes.astype(np.float32), labels, difficult, image_id=image_id)


def get_dataset(name: str, split: str = "train", data_dir: str | None = None, names: str | None = None,
                seed: int = 0, image_dir: str | None = None):
    """A dataset by spec:

    - ``offline``: :class:`OfflineDetection` (split 'train' or 'test', 128 px whatever the network's input size);
    - ``voc``, ``coco``, ``tfds:voc/2007``, ``tfds:coco/2017`` (any tfds name): :class:`TfdsDetection`, prepared
      in ``data_dir`` ('val' means tfds' 'validation');
    - ``folder:PATH`` or a folder / list-file path: :class:`DarknetFolder`; class names from ``names`` or from the
      one ``*.names`` / ``classes.txt`` file in the folder (or beside the list file);
    - ``cocojson:ANN.json:IMAGE_DIR`` or an ``ANN.json`` path (images in ``image_dir``, default: COCO's layout,
      ``annotations/instances_val2017.json`` -> ``val2017/``): :class:`CocoJson`.

    Folder and json datasets have no splits here: ``split`` is ignored (see :func:`holdout` for a held-out part).
    """
    if name == "offline":
        return OfflineDetection(split, seed=seed)
    tfds_name = name[len("tfds:"):] if name.startswith("tfds:") else name
    if tfds_name in TFDS_NAMES or name.startswith("tfds:") or name.startswith(("voc/", "coco/")):
        return TfdsDetection(tfds_name, split="validation" if split == "val" else split, data_dir=data_dir)
    if name.startswith("cocojson:"):
        ann, images = name[len("cocojson:"):].split(":", 1)
        return CocoJson(ann, images)
    if name.lower().endswith(".json"):
        if not os.path.isfile(name):
            raise FileNotFoundError(f"no COCO annotation file {name!r}")
        return CocoJson(name, image_dir or coco_image_dir(name))
    path = name[len("folder:"):] if name.startswith("folder:") else name
    if os.path.exists(path):
        return DarknetFolder(path, names or find_names_file(path))
    raise ValueError(f"unknown dataset {name!r}: use offline, tfds:voc/2007, tfds:coco/2017, a darknet label folder "
                     "(or folder:PATH), a list file, or a COCO instances_*.json")


def find_names_file(path: str) -> str:
    """The class-names file of a darknet folder: the single ``*.names`` or ``classes.txt`` in it (or beside a list
    file)."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    found = sorted(glob.glob(os.path.join(folder, "*.names")) + glob.glob(os.path.join(folder, "classes.txt")))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(os.path.basename(f) for f in found)})"
        raise FileNotFoundError(f"{folder} has {what} class-names file (*.names or classes.txt, one class per "
                                "line): pass --names FILE")
    return found[0]


def coco_image_dir(annotation_file: str) -> str:
    """COCO's layout: ROOT/annotations/instances_val2017.json -> ROOT/val2017 (else the json's own folder)."""
    folder = os.path.dirname(os.path.abspath(annotation_file))
    stem = os.path.splitext(os.path.basename(annotation_file))[0]
    guess = os.path.join(os.path.dirname(folder), stem.split("_", 1)[-1])
    return guess if os.path.isdir(guess) else folder


class Subset:
    """Examples ``indices`` of a dataset (same class names)."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, np.asarray(indices, np.int64)
        self.class_names = dataset.class_names

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Example:
        return self.dataset[int(self.indices[i])]


def holdout(dataset, fraction: float, seed: int = 0) -> tuple[Subset, Subset]:
    """(train, held-out): a seeded random ``fraction`` of the examples is held out (at least one)."""
    if not 0 < fraction < 1:
        raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
    n = len(dataset)
    order = np.random.default_rng([seed, 7]).permutation(n)
    k = max(1, int(round(n * fraction)))
    if k >= n:
        raise ValueError(f"a dataset of {n} images is too small to hold {fraction:.0%} out")
    return Subset(dataset, np.sort(order[k:])), Subset(dataset, np.sort(order[:k]))


# ----------------------------------------------------------------------------------------------------------------
# Batching


def to_network_input(example: Example, img_size: int, max_boxes: int) -> dict[str, np.ndarray]:
    """Letterboxes one example and pads its boxes: {'image' [S, S, 3] float32, 'boxes' [M, 4], 'classes' [M]}.
    Boxes past ``max_boxes`` are dropped (the first ``max_boxes`` are kept)."""
    image, lb = inference.letterbox(example.image, (img_size, img_size))
    boxes = lb.boxes_to_net(example.boxes)[:max_boxes]
    classes = np.asarray(example.classes, np.int32)[:max_boxes]
    out_boxes = np.zeros((max_boxes, 4), np.float32)
    out_classes = np.full((max_boxes,), -1, np.int32)
    out_boxes[:len(boxes)] = boxes
    out_classes[:len(classes)] = classes
    return {"image": image, "boxes": out_boxes, "classes": out_classes}


class DetectionSource:
    """A detection dataset as a :class:`gan_jax.data.Loader` source: ``get(indices, rng)`` -> fixed-shape batch
    {'image' [B, S, S, 3] float32 in [0, 1], 'boxes' [B, M, 4] normalised cxcywh, 'classes' [B, M] int32, -1 =
    padding}, letterboxed to ``img_size``; augmented (:func:`augment.augment_example`) when given an ``rng`` and
    ``augment`` options."""

    def __init__(self, dataset, img_size: int, max_boxes: int, augment_options: augment.DetectionAugment | None = None):
        self.dataset, self.img_size, self.max_boxes = dataset, img_size, max_boxes
        self.augment_options = augment_options

    def __len__(self) -> int:
        return len(self.dataset)

    def get(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        items = [to_network_input(self.dataset[int(i)], self.img_size, self.max_boxes) for i in indices]
        if rng is not None and self.augment_options is not None:
            for it in items:
                it["image"], it["boxes"], it["classes"] = augment.augment_example(
                    rng, it["image"], it["boxes"], it["classes"], self.augment_options)
        return {key: np.stack([it[key] for it in items]) for key in items[0]}


class DetectionLoader(Loader):
    """gan_jax's resumable :class:`Loader` (batch k = rows of a seeded per-epoch permutation), with batch k
    augmented by ``default_rng([seed, 1, k])``: each batch, augmentation included, is a pure function of
    (seed, k), so a resumed run (which restores ``position``) sees exactly the batches of an uninterrupted one."""

    def batch(self, k: int) -> dict[str, np.ndarray]:
        return self.source.get(self.indices(k), rng=np.random.default_rng([self.seed, 1, k]))


def kmeans_anchors(dataset, img_size: int, k: int = 6, n_samples: int = 2000, seed: int = 0, iters: int = 100
                   ) -> tuple[tuple[float, float], ...]:
    """k-means on box shapes with 1 - IoU as the distance (as darknet's calc_anchors); anchors in input pixels,
    sorted by area (darknet's order: the first half goes to the finer head)."""
    rng = np.random.default_rng(seed)
    wh = []
    for i in rng.permutation(len(dataset))[:n_samples]:
        ex = dataset[int(i)]
        lb = inference.Letterbox(ex.image.shape[:2], (img_size, img_size))
        wh.append(lb.boxes_to_net(ex.boxes)[:, 2:] * img_size)
    wh = np.concatenate(wh)
    centres = wh[rng.choice(len(wh), k, replace=False)]
    for _ in range(iters):
        inter = np.prod(np.minimum(wh[:, None], centres[None]), -1)
        iou = inter / (np.prod(wh, -1)[:, None] + np.prod(centres, -1)[None] - inter)
        assign = iou.argmax(1)
        new = np.array([wh[assign == j].mean(0) if (assign == j).any() else centres[j] for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    centres = centres[np.argsort(np.prod(centres, -1))]
    return tuple((round(float(w), 1), round(float(h), 1)) for w, h in centres)
