"""The ARM's layer-group schedule: which engines run each group, with which channel folds, and where every
tensor lives in DDR.

A group is one convolution (convolution engine -> accumulation engine) optionally followed by the maxpool,
upsample or yolo engine, or one of those three alone on a tensor already in DDR. A convolution whose output is
also read by a route (yolov3-tiny's layer 8) writes it to DDR, and its maxpool becomes a group of its own.
yolov3-tiny gives 14 groups. Folds: the output channels go N_max at a time; the input channels ``c_fold`` at a
time, as many as the line buffer (``lb_depth`` 64-bit beats per row) and the weight buffer (``wb_depth`` beats
per kernel) hold; partial sums of all but the last input fold go to DDR and come back to the accumulation engine.

DDR layout: a tensor is pixel-major with its channels padded to a multiple of 4 (one 64-bit beat carries 4
16-bit channels). A concatenating route is free: its inputs are written into one buffer at their channel offset
(a strided write), so the route itself moves no data.
"""

from __future__ import annotations

import dataclasses

from detection import darknet


def pad4(n: int) -> int:
    return -(-n // 4) * 4


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a layer's output lives: buffer id, first channel, channels per pixel of that buffer."""

    buffer: int
    offset: int
    stride: int


@dataclasses.dataclass(frozen=True)
class Pass:
    """One run of the convolution + accumulation engines (+ post engine on the last input fold)."""

    out_lo: int  # output channels [out_lo, out_lo + n)
    n: int
    in_lo: int  # input channels [in_lo, in_lo + c)
    c: int
    first: bool
    last: bool


@dataclasses.dataclass(frozen=True)
class Group:
    conv: int | None  # darknet layer index of the convolution, or None
    post: int | None  # layer index of the maxpool / upsample / yolo, or None
    source: int  # layer whose output the group reads (-1: the network input)
    output: int  # layer whose output the group writes
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    c_in: int  # channels read (padded to 4)
    c_out: int  # channels written (padded to 4)
    k: int  # kernel size (0: no convolution)
    passes: tuple[Pass, ...]
    post_kind: str = "none"  # 'maxpool' | 'upsample' | 'yolo' | 'none'


class ScheduleError(ValueError):
    """A network or design point the engines cannot run (the message says which limit)."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """The engines' compile-time sizes that folds must respect."""

    n_max: int = 32  # kernels in parallel = output channels per pass
    lb_depth: int = 1664  # line-buffer beats per row (416 px x 16 channels)
    wb_depth: int = 512  # weight-buffer beats per kernel
    w_max: int = 416  # widest feature map (post-engine row buffers)

    def c_fold(self, width: int, k: int) -> int:
        c = 4 * min(self.lb_depth // width, self.wb_depth // (k * k))
        if c < 4:
            raise ScheduleError(f"a {width}-pixel row of a {k}x{k} convolution does not fit the line buffer "
                                f"({self.lb_depth} beats per row) / weight buffer ({self.wb_depth} beats)")
        return c


def _readers(network: darknet.Network) -> dict[int, set[int]]:
    readers: dict[int, set[int]] = {i: set() for i in range(-1, len(network.layers))}
    for i, l in enumerate(network.layers):
        if isinstance(l, darknet.Route):
            for r in l.layers:
                readers[r].add(i)
        else:
            readers[i - 1].add(i)
    return readers


def _source(network: darknet.Network, i: int) -> int:
    """The layer whose DDR tensor layer ``i`` reads (routes of one input are aliases)."""
    j = i - 1
    while j >= 0 and isinstance(network.layers[j], darknet.Route) and len(network.layers[j].layers) == 1 \
            and network.layers[j].groups == 1:
        j = network.layers[j].layers[0]
    return j


def shapes(network: darknet.Network, hw: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    h, w = hw
    for l in network.layers:
        if isinstance(l, darknet.MaxPool):
            h, w = (h + l.padding - l.size) // l.stride + 1, (w + l.padding - l.size) // l.stride + 1
        elif isinstance(l, darknet.Upsample):
            h, w = h * l.stride, w * l.stride
        elif isinstance(l, darknet.Route):
            h, w = out[l.layers[0]]
        out.append((h, w))
    return out


def build(network: darknet.Network, hw: tuple[int, int], limits: Limits = Limits()) -> list[Group]:
    """The groups in execution order (see the module docstring)."""
    if limits.n_max % 4:
        raise ScheduleError(f"N_max={limits.n_max} must be a multiple of 4 (4 channels per beat)")
    sizes = shapes(network, hw)
    if max(w for _, w in sizes) > limits.w_max:
        raise ScheduleError(f"feature maps {max(w for _, w in sizes)} pixels wide exceed the engines' w_max="
                            f"{limits.w_max}")
    readers = _readers(network)
    groups: list[Group] = []
    layers = network.layers
    i = 0
    while i < len(layers):
        l = layers[i]
        src = _source(network, i)
        in_hw = hw if src < 0 else sizes[src]
        c_in = pad4(network.net.channels if src < 0 else network.channels[src])
        if isinstance(l, darknet.Route):
            i += 1
            continue
        conv = post = None
        if isinstance(l, darknet.Conv):
            conv = i
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(nxt, (darknet.MaxPool, darknet.Upsample, darknet.Yolo)) and readers[i] == {i + 1}:
                post = i + 1
        else:
            post = i
        last = post if post is not None else conv
        c_out = pad4(network.channels[last])
        k = layers[conv].size if conv is not None else 0
        n_fold = limits.n_max
        passes = []
        if conv is not None:
            c_fold = min(c_in, limits.c_fold(in_hw[1], k))
            for o in range(0, c_out, n_fold):
                n = min(n_fold, c_out - o)
                for f in range(0, c_in, c_fold):
                    passes.append(Pass(o, n, f, min(c_fold, c_in - f), f == 0, f + c_fold >= c_in))
        else:
            for o in range(0, c_out, n_fold):
                n = min(n_fold, c_out - o)
                passes.append(Pass(o, n, o, n, True, True))
        kind = type(layers[post]).__name__.lower() if post is not None else "none"
        groups.append(Group(conv, post, src, last, in_hw, sizes[last], c_in, c_out, k, tuple(passes), kind))
        i = last + 1
    return groups


def placements(network: darknet.Network, groups: list[Group]) -> dict[int, Placement]:
    """DDR placement of every layer output a group writes or a route names; concatenated inputs share a buffer."""
    place: dict[int, Placement] = {}
    written = {g.output for g in groups}
    next_buffer = 0
    for i, l in enumerate(network.layers):
        if isinstance(l, darknet.Route) and len(l.layers) > 1:
            stride = sum(pad4(network.channels[r]) for r in l.layers)
            offset = 0
            for r in l.layers:
                if r in place:
                    raise ScheduleError(f"route {i}: layer {r} is already placed for another concatenation")
                if r not in written:
                    raise ScheduleError(f"route {i}: layer {r} is not written to DDR by any group")
                place[r] = Placement(next_buffer, offset, stride)
                offset += pad4(network.channels[r])
            place[i] = Placement(next_buffer, 0, stride)
            next_buffer += 1
    for g in groups:
        if g.output not in place:
            place[g.output] = Placement(next_buffer, 0, g.c_out)
            next_buffer += 1
    return place


def summary(groups: list[Group]) -> str:
    rows = []
    for n, g in enumerate(groups):
        folds_in = len({p.in_lo for p in g.passes}) if g.conv is not None else 1
        folds_out = len({p.out_lo for p in g.passes})
        what = (f"conv{g.conv} {g.k}x{g.k}" if g.conv is not None else "") + \
               (f" + {g.post_kind}{g.post}" if g.post is not None else "")
        rows.append(f"{n:2d} {what.strip():24s} {g.in_hw[0]:3d}x{g.in_hw[1]:<3d} {g.c_in:4d}->{g.c_out:<4d} "
                    f"folds in {folds_in} out {folds_out}")
    return "\n".join(rows)
