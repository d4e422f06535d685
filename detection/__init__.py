"""YOLOv3-tiny and YOLOv4-tiny in JAX/Flax, loading darknet's .cfg/.weights with darknet's semantics exactly.

Modules:
- ``darknet``: cfg parser, the Flax network built from it, .weights reader/writer, the two built-in layer lists.
- ``model``: the project's model contract (``Config``, ``State``, ``init``, ``train_step``, ``predict``).
- ``loss``: the YOLOv3 loss (MSE, GIoU or CIoU box term). ``boxes``: IoU variants, decoding, class-aware NMS.
- ``augment``: Cutout (numpy and jax, shared with the image classifiers) and box-aware augmentations.
- ``data``: the offline generated set, darknet label folders, COCO json, tfds voc/coco; fixed-shape batches.
- ``inference``: letterboxing, image loading, ``Detector``. ``evaluate``: VOC/COCO mAP (+ CLI).
- ``detect``: ``python -m detection.detect IMAGE... --weights FILE --out DIR``. ``train``: ``python -m
  detection.train`` on gan_jax.engine, and ``train.train()`` for Python (same pipeline and step).
"""
