"""Fixed-point quantisation of a darknet YOLO network for the FPGA engines.

    qnet = quantize.quantize(network, variables)                        # 16-bit data/weights, 8 fractional bits
    qnet = quantize.quantize(network, variables, calibration=images)    # + a report on those images
    qnet = quantize.quantize(network, variables, QuantConfig(profile=True), calibration=images)  # per-layer formats

What the hardware computes (and :mod:`fpga.reference` reproduces bit for bit):
- BN folded into the convolution: ``w' = w * s``, ``b' = bias - mean * s`` with ``s = scale / (sqrt(var) + 1e-6)``
  (darknet's inference BN, as ``detection.darknet`` implements it).
- Every tensor is an integer ``q`` standing for ``q / 2**frac`` in ``data_bits`` bits; weights ``weight_bits``
  bits with their own ``frac`` per layer (round to nearest, saturated). The bias is stored at the accumulator's
  scale (``frac_in + frac_w``) in 32 bits.
- The convolution accumulates exact products in a 32-bit register that wraps (two's complement, like an
  ``ap_int<32>``), so the order of input-channel folds cannot change the result. The overflow count of the report
  says when a wrap happened.
- Leaky: negative accumulators are multiplied by ``LEAKY_Q16 / 2**16`` (0.1 as 6554/65536), folded into the one
  rounding shift that brings the accumulator to the output format (round half up, then saturate).
- maxpool, upsample and route keep their input's format; the inputs of a concatenating route share one format.
- The yolo layer's logistic comes from a 4096-entry table over [-8, 8) in steps of 1/256, output in Q0.15
  (``YOLO_FRAC``); w and h pass through unchanged. Deliberate deviation from a data-format output: Q8 would make
  every score below 1/256 zero and tie many scores at darknet's 0.005 evaluation threshold.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Mapping, Sequence

import numpy as np

from detection import darknet

LEAKY_Q16 = 6554  # round(0.1 * 2**16)
BN_EPSILON = darknet.BN_EPSILON
ACC_BITS = 32
YOLO_FRAC = 15  # logistic outputs in Q0.15
SIGMOID_FRAC = 8  # the table's input step is 1/256
SIGMOID_RANGE = 8  # ... over [-8, 8)
SIGMOID_SIZE = 2 * SIGMOID_RANGE << SIGMOID_FRAC  # 4096 entries


class QuantizeError(ValueError):
    """A network or a format the fixed-point flow cannot represent."""


class FormatWarning(UserWarning):
    """A format too narrow for the values it met (saturations or accumulator wraps were counted)."""


# ----------------------------------------------------------------------------------------------------------------
# Fixed-point arithmetic shared by the reference, the report and the generated C++ (which does the same steps)


def saturate(v: np.ndarray, bits: int) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(v, lo, hi)


def to_fixed(x: np.ndarray, frac: int, bits: int) -> np.ndarray:
    """Round to nearest (half away from zero, numpy's rint is half-even: we use floor(x + 0.5)), saturate; int64."""
    return saturate(np.floor(np.asarray(x, np.float64) * (2.0 ** frac) + 0.5), bits).astype(np.int64)


def wrap(v: np.ndarray, bits: int = ACC_BITS) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits (what an ap_int<bits> register does)."""
    m = 1 << bits
    return ((np.asarray(v, np.int64) + (m >> 1)) & (m - 1)) - (m >> 1)


def round_shift(v: np.ndarray, shift: int) -> np.ndarray:
    """v / 2**shift rounded half up (add half, arithmetic shift), int64; shift >= 0."""
    v = np.asarray(v, np.int64)
    return (v + (1 << (shift - 1))) >> shift if shift > 0 else v


def requantize(acc: np.ndarray, shift: int, leaky: bool, bits: int) -> np.ndarray:
    """32-bit accumulator -> output data: leaky on negatives (x 6554/2**16), one rounding shift, saturation."""
    acc = np.asarray(acc, np.int64)
    if leaky:
        neg = acc < 0
        out = np.where(neg, round_shift(acc * LEAKY_Q16, shift + 16), round_shift(acc, shift))
    else:
        out = round_shift(acc, shift)
    return saturate(out, bits)


def sigmoid_table() -> np.ndarray:
    """int64 [4096]: round(sigmoid(i / 256) * 2**15) for i in [-2048, 2048), saturated to int16."""
    x = (np.arange(SIGMOID_SIZE, dtype=np.float64) - SIGMOID_SIZE // 2) / (1 << SIGMOID_FRAC)
    return np.minimum(np.floor(1.0 / (1.0 + np.exp(-x)) * (1 << YOLO_FRAC) + 0.5), (1 << 15) - 1).astype(np.int64)


def sigmoid_index(q: np.ndarray, frac: int) -> np.ndarray:
    """Table index of data ``q`` at ``frac`` fractional bits (floor to steps of 1/256, clipped to the table)."""
    q = np.asarray(q, np.int64)
    q8 = q >> (frac - SIGMOID_FRAC) if frac >= SIGMOID_FRAC else q << (SIGMOID_FRAC - frac)
    return np.clip(q8, -(SIGMOID_SIZE // 2), SIGMOID_SIZE // 2 - 1) + SIGMOID_SIZE // 2


def yolo_logistic_mask(channels: int, classes: int) -> np.ndarray:
    """bool [channels]: True where the yolo layer applies the logistic (x, y, obj, classes), False for w, h."""
    a = np.arange(channels) % (5 + classes)
    return (a != 2) & (a != 3)


# ----------------------------------------------------------------------------------------------------------------
# Configuration and the quantised network


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    data_bits: int = 16
    weight_bits: int = 16
    data_frac: int = 8  # every tensor's fractional bits unless profiled or overridden
    weight_frac: int = 8
    input_frac: int | None = None  # the image's format (default: data_frac)
    profile: bool = False  # choose each layer's fractional bits from the calibration images / weights
    margin: float = 2.0  # profiling: headroom on the observed max |value| (2 = one spare integer bit)
    # per-layer overrides, darknet layer index -> {'frac_out': int, 'frac_w': int}
    layers: Mapping[int, Mapping[str, int]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("data_bits", "weight_bits"):
            if not 2 <= getattr(self, name) <= 16:
                raise QuantizeError(f"{name}={getattr(self, name)}: the engines pack 16-bit words, use 2..16 bits")
        for name, bits in (("data_frac", self.data_bits), ("weight_frac", self.weight_bits)):
            if not self.profile and not 0 <= getattr(self, name) < bits:  # (profiling picks its own)
                raise QuantizeError(f"{name}={getattr(self, name)} must be in 0..{bits - 1}")


@dataclasses.dataclass
class QConv:
    index: int
    layer: darknet.Conv
    weight_f: np.ndarray  # float64 [K, K, C, N] (HWIO), BN folded
    bias_f: np.ndarray  # float64 [N]
    weight_q: np.ndarray  # int64 [K, K, C, N], frac_w
    bias_q: np.ndarray  # int64 [N], frac_in + frac_w, 32-bit
    frac_in: int
    frac_w: int
    frac_out: int
    weight_saturated: int = 0

    @property
    def shift(self) -> int:
        return self.frac_in + self.frac_w - self.frac_out

    @property
    def leaky(self) -> bool:
        return self.layer.activation == "leaky"


@dataclasses.dataclass
class LayerReport:
    index: int
    kind: str
    frac: int  # output's fractional bits
    bits: int
    frac_w: int | None = None
    range_float: tuple[float, float] = (0.0, 0.0)  # observed min/max of the float layer output
    range_fixed: tuple[float, float] = (0.0, 0.0)  # what the format can represent
    saturated: int = 0  # output values clipped (calibration)
    wrapped: int = 0  # accumulator values that wrapped around 32 bits (calibration)
    weight_saturated: int = 0
    sqnr_db: float = float("nan")  # float output vs fixed-point output, on the calibration images
    n_values: int = 0
    weight_bits: int = 16

    def row(self) -> str:
        q = f"Q{self.bits - self.frac}.{self.frac}"
        w = f"Q{self.weight_bits - self.frac_w}.{self.frac_w}" if self.frac_w is not None else "-"
        lo, hi = self.range_float
        return (f"{self.index:3d} {self.kind:9s} {q:>7s} {w:>7s} [{lo:9.3f}, {hi:9.3f}] {self.saturated:8d} "
                f"{self.wrapped:6d} {self.sqnr_db:7.1f}")


@dataclasses.dataclass
class QuantizedNetwork:
    network: darknet.Network
    config: QuantConfig
    input_frac: int
    fracs: list[int]  # output fractional bits per layer (yolo: its w/h format; logistic planes are YOLO_FRAC)
    convs: dict[int, QConv]
    report: list[LayerReport] = dataclasses.field(default_factory=list)

    @property
    def data_bits(self) -> int:
        return self.config.data_bits

    @property
    def weight_bits(self) -> int:
        return self.config.weight_bits

    def frac_of_input(self, i: int) -> int:
        return self.input_frac if i == 0 else self.fracs[i - 1]

    def report_text(self) -> str:
        head = (f"fixed point: data {self.data_bits} bits, weights {self.weight_bits} bits, accumulator {ACC_BITS} "
                f"bits; input Q{self.data_bits - self.input_frac}.{self.input_frac}\n"
                "  # layer        out  weight  float range                saturated  wraps    SQNR dB")
        return "\n".join([head] + [r.row() for r in self.report])


# ----------------------------------------------------------------------------------------------------------------


def check_supported(network: darknet.Network) -> None:
    """The layer types the fixed-point flow (and the engines) implement; anything else is a QuantizeError."""
    for i, l in enumerate(network.layers):
        where = f"layer {i} (cfg line {l.line})"
        if isinstance(l, darknet.Conv):
            if l.groups != 1:
                raise QuantizeError(f"{where}: grouped convolution (groups={l.groups}) is not supported")
            if l.size not in (1, 3) or l.stride != 1 or l.padding != l.size // 2:
                raise QuantizeError(f"{where}: convolution {l.size}x{l.size}/{l.stride} padding {l.padding} is not "
                                    "supported (the engine does 1x1 and 3x3, stride 1, 'same' padding)")
            if l.activation not in ("leaky", "linear"):
                raise QuantizeError(f"{where}: activation {l.activation!r} is not supported (leaky, linear)")
        elif isinstance(l, darknet.MaxPool):
            if l.size != 2 or l.stride not in (1, 2) or l.padding != 1:
                raise QuantizeError(f"{where}: maxpool size={l.size} stride={l.stride} padding={l.padding} is not "
                                    "supported (size 2, stride 1 or 2, darknet's default padding)")
        elif isinstance(l, darknet.Upsample):
            if l.stride != 2:
                raise QuantizeError(f"{where}: upsample stride={l.stride} is not supported (2)")
            if l.scale != 1.0:
                raise QuantizeError(f"{where}: upsample with scale={l.scale} is not supported")
        elif not isinstance(l, (darknet.Route, darknet.Yolo)):
            raise QuantizeError(f"{where}: [{type(l).__name__.lower()}] layers are not supported by the FPGA flow "
                                "(conv, maxpool, route, upsample, yolo)")


def fold_bn(network: darknet.Network, variables: dict) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{conv layer index: (kernel HWIO float64, bias float64)} with the BN scale folded in."""
    params, stats = variables["params"], variables.get("batch_stats", {})
    out = {}
    for i, c in network.conv_layers:
        w = np.asarray(params[f"conv_{i}"]["kernel"], np.float64)
        if c.batch_normalize:
            bn, st = params[f"bn_{i}"], stats[f"bn_{i}"]
            s = np.asarray(bn["scale"], np.float64) / (np.sqrt(np.asarray(st["var"], np.float64)) + BN_EPSILON)
            out[i] = (w * s, np.asarray(bn["bias"], np.float64) - np.asarray(st["mean"], np.float64) * s)
        else:
            out[i] = (w, np.asarray(params[f"conv_{i}"]["bias"], np.float64))
    return out


def format_source(network: darknet.Network, i: int) -> int | None:
    """The layer whose format layer ``i`` inherits (a conv), or None for the network input."""
    while i >= 0:
        l = network.layers[i]
        if isinstance(l, darknet.Conv):
            return i
        if isinstance(l, darknet.Route):
            if len(l.layers) > 1:
                return format_source(network, l.layers[0])  # all inputs are tied to one format
            i = l.layers[0]
            continue
        i -= 1
    return None


def frac_for(max_abs: float, bits: int) -> int:
    """Most fractional bits (0..bits-1) that keep ``max_abs`` representable in a signed ``bits``-bit word."""
    if max_abs <= 0:
        return bits - 1
    return int(min(bits - 1, max(0, math.floor(math.log2(((1 << (bits - 1)) - 1) / max_abs)))))


def _assign_fracs(network: darknet.Network, config: QuantConfig, input_frac: int, conv_frac: dict[int, int]
                  ) -> list[int]:
    fracs: list[int] = []
    for i, l in enumerate(network.layers):
        if isinstance(l, darknet.Conv):
            fracs.append(conv_frac[i])
        elif isinstance(l, darknet.Route):
            fracs.append(fracs[l.layers[0]])
        else:
            fracs.append(input_frac if i == 0 else fracs[i - 1])
    return fracs


def quantize(network: darknet.Network, variables: dict, config: QuantConfig = QuantConfig(),
             calibration: np.ndarray | None = None) -> QuantizedNetwork:
    """Folds BN, picks formats (fixed, profiled or per-layer overrides), quantises weights and biases, and with
    ``calibration`` images (float [B, H, W, 3] in [0, 1]) fills the per-layer report (warning on saturation)."""
    from fpga import reference  # (reference imports this module's arithmetic)

    check_supported(network)
    folded = fold_bn(network, variables)
    input_frac = config.data_frac if config.input_frac is None else config.input_frac
    conv_frac = {i: config.data_frac for i, _ in network.conv_layers}
    w_frac = {i: config.weight_frac for i, _ in network.conv_layers}
    float_outs = None
    if config.profile:
        if calibration is None:
            raise QuantizeError("profile=True needs calibration images to measure each layer's range")
        input_frac = config.input_frac if config.input_frac is not None else frac_for(
            float(np.abs(calibration).max()), config.data_bits)
        float_outs = reference.forward_float(network, folded, calibration)
        for i, _ in network.conv_layers:
            conv_frac[i] = frac_for(float(np.abs(float_outs[i]).max()) * config.margin, config.data_bits)
            w_frac[i] = frac_for(float(np.abs(folded[i][0]).max()), config.weight_bits)
        # the inputs of a concatenating route share a format: the coarsest of them
        for l in network.layers:
            if isinstance(l, darknet.Route) and len(l.layers) > 1:
                sources = {format_source(network, r) for r in l.layers}
                if None in sources:
                    raise QuantizeError("a route concatenating the network input is not supported")
                tied = min(conv_frac[s] for s in sources)
                for s in sources:
                    conv_frac[s] = tied
    for i, over in config.layers.items():
        if i not in conv_frac:
            raise QuantizeError(f"per-layer format for layer {i}: not a convolutional layer "
                                f"(convolutions: {', '.join(str(k) for k in conv_frac)})")
        unknown = set(over) - {"frac_out", "frac_w"}
        if unknown:
            raise QuantizeError(f"per-layer format for layer {i}: unknown keys {sorted(unknown)} (frac_out, frac_w)")
        conv_frac[i] = over.get("frac_out", conv_frac[i])
        w_frac[i] = over.get("frac_w", w_frac[i])
    fracs = _assign_fracs(network, config, input_frac, conv_frac)
    _check_routes(network, fracs)

    convs: dict[int, QConv] = {}
    for i, c in network.conv_layers:
        w, b = folded[i]
        f_in = input_frac if i == 0 else fracs[i - 1]
        f_w, f_out = w_frac[i], fracs[i]
        if f_out > f_in + f_w:
            raise QuantizeError(f"layer {i}: output format has {f_out} fractional bits, more than the "
                                f"accumulator's {f_in} + {f_w}")
        if not 0 <= f_out < config.data_bits or not 0 <= f_w < config.weight_bits:
            raise QuantizeError(f"layer {i}: fractional bits out={f_out} w={f_w} outside the word "
                                f"({config.data_bits}/{config.weight_bits} bits)")
        wq_exact = np.floor(w * 2.0 ** f_w + 0.5)
        wq = to_fixed(w, f_w, config.weight_bits)
        bq = to_fixed(b, f_in + f_w, ACC_BITS)
        convs[i] = QConv(i, c, w, b, wq, bq, f_in, f_w, f_out, int((wq != wq_exact).sum()))
    qnet = QuantizedNetwork(network, config, input_frac, fracs, convs)
    if calibration is not None:
        qnet.report = calibration_report(qnet, folded, calibration, float_outs)
        narrow = [r for r in qnet.report if r.saturated or r.wrapped or r.weight_saturated]
        if narrow:
            warnings.warn("fixed-point formats too narrow for the calibration data: " + "; ".join(
                f"layer {r.index} (Q{r.bits - r.frac}.{r.frac}, float range {r.range_float[0]:.3g}.."
                f"{r.range_float[1]:.3g}): {r.saturated} saturated, {r.wrapped} accumulator wraps, "
                f"{r.weight_saturated} weights clipped" for r in narrow), FormatWarning, stacklevel=2)
    return qnet


def _check_routes(network: darknet.Network, fracs: Sequence[int]) -> None:
    for i, l in enumerate(network.layers):
        if isinstance(l, darknet.Route) and len({fracs[r] for r in l.layers}) > 1:
            raise QuantizeError(f"route layer {i} concatenates layers {list(l.layers)} with different formats "
                                f"({[fracs[r] for r in l.layers]} fractional bits); give them the same frac_out")


def calibration_report(qnet: QuantizedNetwork, folded: dict, images: np.ndarray,
                       float_outs: list[np.ndarray] | None = None) -> list[LayerReport]:
    from fpga import reference

    network = qnet.network
    if float_outs is None:
        float_outs = reference.forward_float(network, folded, images)
    stats: dict[str, dict[int, int]] = {"saturated": {}, "wrapped": {}}
    fixed = reference.forward(qnet, reference.quantize_input(qnet, images), stats=stats)
    rows = []
    for i, l in enumerate(network.layers):
        f = qnet.fracs[i]
        y_f, y_q = float_outs[i], reference.dequantize(qnet, i, fixed[i])
        if isinstance(l, darknet.Yolo):
            y_f = reference.yolo_float(y_f, l)
        err = float(np.sum((y_f - y_q) ** 2))
        sqnr = 10 * math.log10(float(np.sum(y_f ** 2)) / err) if err > 0 else float("inf")
        conv = qnet.convs.get(i)
        bits = qnet.data_bits
        rows.append(LayerReport(
            index=i, kind=type(l).__name__.lower(), frac=f, bits=bits, frac_w=conv.frac_w if conv else None,
            range_float=(float(y_f.min()), float(y_f.max())),
            range_fixed=(-(2.0 ** (bits - 1 - f)), (2.0 ** (bits - 1) - 1) / 2.0 ** f),
            saturated=stats["saturated"].get(i, 0), wrapped=stats["wrapped"].get(i, 0),
            weight_saturated=conv.weight_saturated if conv else 0, sqnr_db=sqnr, n_values=int(y_f.size),
            weight_bits=qnet.weight_bits))
    return rows
