"""fpga.hls + fpga.csim: the generated C++ engines, compiled with g++ against hls4ml's ap_int headers, equal the
bit-exact reference (each engine on random data with wraps and saturation; the whole reduced network driven
group by group from Python and by the generated ARM driver); the testbench passes on the generated vectors; the
TCL runs against stub Vivado commands in tclsh; clear errors for a missing compiler, a failing compile, missing
headers and misuse of an engine."""

import os
import shutil

import numpy as np
import pytest

from detection import darknet
from fpga import csim, dse, hls
from fpga import quantize as Q
from fpga import reference as R
from tests.test_fpga_quantize import random_variables, tiny_network

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")

# small engines: 8 kernels, a line buffer of 64 beats per row, so that a 64-px network needs input and output folds
SMALL = dse.Design(n_max=8, p_mem=2, lb_depth=64, wb_depth=72, w_max=64)


@pytest.fixture(scope="module")
def engines():
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    return csim.Engines.build(SMALL)


@pytest.fixture(scope="module")
def net64():
    network = tiny_network(size=64, width=0.125)
    qnet = Q.quantize(network, random_variables(network, seed=3))
    x = np.random.default_rng(4).uniform(0, 1, (1, 64, 64, 3))
    return qnet, R.quantize_input(qnet, x)[0]


# ------------------------------------------------------------------------------------------------ each engine


@needs_gxx
def test_conv_and_accumulation_engines_with_folds_wraps_and_saturation(engines):
    rng = np.random.default_rng(0)
    h, w, c, n, k = 6, 7, 8, 8, 3
    x = rng.integers(-32768, 32768, (h, w, c))
    wq = rng.integers(-32768, 32768, (k, k, c, n))
    bias = rng.integers(-2**31, 2**31, n)
    layer = darknet.Conv(filters=n, size=k, stride=1, padding=1, batch_normalize=False, activation="leaky",
                           in_channels=c)
    qc = Q.QConv(0, layer, wq * 1.0, bias * 1.0, wq, bias, 8, 8, 6)  # shift 10
    stats = {"saturated": {}, "wrapped": {}}
    expect = R.conv_layer(qc, x[None], 16, stats)[0]
    assert stats["wrapped"][0] > 0 and stats["saturated"][0] > 0  # the case exercises both
    # two input folds of 4 channels, like the ARM does when the line buffer is short
    from fpga.schedule import Pass

    first = Pass(0, n, 0, 4, True, False)
    last = Pass(0, n, 4, 4, False, True)
    p0 = engines.conv(x[..., :4], hls.pass_weight_beats(qc, first, c, n), n, k)
    partial = engines.acc(p0, None, None, True, False, True, qc.shift)
    assert partial.dtype == np.int32
    p1 = engines.conv(x[..., 4:], hls.pass_weight_beats(qc, last, c, n), n, k)
    out = engines.acc(p1, partial, bias.astype(np.int32), False, True, True, qc.shift)
    np.testing.assert_array_equal(out, expect)
    # 1x1, linear, one fold
    layer1 = darknet.Conv(filters=4, size=1, stride=1, padding=0, batch_normalize=False, activation="linear",
                            in_channels=8)
    w1 = rng.integers(-300, 300, (1, 1, 8, 4))
    qc1 = Q.QConv(0, layer1, w1 * 1.0, bias[:4] * 0.0, w1, np.zeros(4, np.int64), 8, 8, 8)
    one = Pass(0, 4, 0, 8, True, True)
    y = engines.acc(engines.conv(x, hls.pass_weight_beats(qc1, one, 8, 4), 4, 1), None, np.zeros(4, np.int32),
                    True, True, False, qc1.shift)
    np.testing.assert_array_equal(y, R.conv_layer(qc1, x[None], 16)[0])


@needs_gxx
@pytest.mark.parametrize("shape,stride", [((6, 8, 8), 2), ((5, 7, 4), 2), ((5, 5, 8), 1)])
def test_maxpool_engine(engines, shape, stride):
    x = np.random.default_rng(1).integers(-32768, 32768, shape)
    x[0, 0, 0] = -32768
    np.testing.assert_array_equal(engines.maxpool(x, stride), R.maxpool(x[None], 2, stride, 1)[0])


@needs_gxx
def test_upsample_engine(engines):
    x = np.random.default_rng(2).integers(-32768, 32768, (3, 4, 8))
    np.testing.assert_array_equal(engines.upsample(x), x.repeat(2, 0).repeat(2, 1))


@needs_gxx
@pytest.mark.parametrize("frac,offset", [(8, 0), (6, 8), (11, 4)])
def test_yolo_engine(engines, frac, offset):
    layer = darknet.Yolo(mask=(0, 1, 2), anchors=((1, 1),) * 3, classes=3)
    x = np.random.default_rng(3).integers(-32768, 32768, (2, 3, 8))
    got = engines.yolo(x, offset, 3, frac)
    np.testing.assert_array_equal(got, R.yolo_layer(x, layer, frac, offset))
    wh = Q.yolo_logistic_mask(offset + 8, 3)[offset:] == 0
    np.testing.assert_array_equal(got[..., wh], x[..., wh])  # w, h pass through


# ------------------------------------------------------------------------------------------------ whole network


@needs_gxx
def test_whole_network_group_by_group_equals_reference(engines, net64):
    qnet, x = net64
    ref = R.forward(qnet, x[None])
    groups = []
    outs = csim.run_network(engines, qnet, x, on_group=groups.append)
    assert len(groups) == 14 and any(len({p.in_lo for p in g.passes}) > 1 for g in groups)  # input folds ran
    assert set(outs) >= {16, 23, 8, 19}
    for layer, y in outs.items():
        np.testing.assert_array_equal(y, ref[layer][0], err_msg=f"layer {layer}")


@needs_gxx
def test_generated_arm_driver_runs_the_network(engines, net64):
    qnet, x = net64
    ref = R.forward(qnet, x[None])
    outs = csim.run_driver(engines, qnet, x)
    for layer in (1, 8, 9, 16, 19, 23):
        np.testing.assert_array_equal(outs[layer], ref[layer][0], err_msg=f"layer {layer}")


@needs_gxx
def test_project_and_testbench(engines, net64, tmp_path):
    qnet, x = net64
    paths = hls.generate(qnet, SMALL, str(tmp_path), image_int=x)
    header = open(os.path.join(paths["firmware"], "fpga_config.h")).read()
    assert "#define N_MAX 8" in header and "#define P_MEM 2" in header and "#define LEAKY_Q16 6554" in header
    schedule = open(os.path.join(paths["arm"], "schedule.h")).read()
    assert "14 layer groups" in schedule
    prog = hls.program(qnet, SMALL, (64, 64))
    weights = np.fromfile(os.path.join(paths["arm"], "weights.bin"), "<i2")
    np.testing.assert_array_equal(weights, prog["weights"])
    # every weight of every conv appears once per output fold: the total is the padded weight count
    assert weights.size == sum(p["weight_words"] for p in prog["passes"])
    results = csim.run_testbench(engines, str(tmp_path))
    assert sorted(results) == sorted(hls.ENGINES) and all(r.startswith("PASS") for r in results.values())
    bad = tmp_path / "tb" / "maxpool_engine" / "expected.bin"
    beats = np.fromfile(bad, "<u8")
    beats[3] ^= 1
    beats.tofile(bad)
    with pytest.raises(csim.CsimError, match="FAIL maxpool_engine: 1 of"):
        csim.run_testbench(engines, str(tmp_path))


# ------------------------------------------------------------------------------------------------ TCL


@needs_tclsh
def test_tcl_dry_run(tmp_path):
    paths = hls.write_tcl(str(tmp_path), dse.Design())
    cmds = hls.dry_run_tcl(paths[0])
    names = [c[0] for c in cmds]
    assert names == ["open_project", "set_top", "add_files", "add_files", "open_solution", "set_part", "create_clock",
                     "config_export", "csim_design", "csynth_design", "cosim_design", "export_design"]
    assert cmds[1] == ["set_top", "conv_engine"] and cmds[5] == ["set_part", "xc7z020clg484-1"]
    assert cmds[6] == ["create_clock", "-period", "10", "-name", "default"]
    assert "-DTB_CONV" in cmds[3][-1]
    short = [c[0] for c in hls.dry_run_tcl(paths[0], env={"FPGA_HLS_STEPS": "csim csynth"})]
    assert short[-2:] == ["csim_design", "csynth_design"]
    bd = hls.dry_run_tcl(paths[-1])
    names = [c[0] for c in bd]
    cells = [c[-1] for c in bd if c[0] == "create_bd_cell"]
    assert cells[:1] == ["ps7"] and set(hls.ENGINES) <= set(cells) and {"dma0", "dma1"} <= set(cells)
    assert {"sw_in", "sw_par", "sw_post", "sw_out"} <= set(cells)
    assert bd[0][:2] == ["create_project", "-force"] and "xc7z020clg484-1" in bd[0]
    assert names.count("connect_bd_intf_net") == 17
    freq = [c for c in bd if c[0] == "set_property" and "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ" in " ".join(c)]
    assert freq and "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ 100 " in " ".join(freq[0])
    order = [names.index(n) for n in ("create_bd_design", "assign_bd_address", "validate_bd_design", "make_wrapper",
                                      "launch_runs", "write_hwdef")]
    assert order == sorted(order)


# ------------------------------------------------------------------------------------------------ errors


def test_missing_compiler_and_headers(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(csim.CsimError, match="no-such-compiler-xyz.*not on PATH"):
        csim.compiler()
    monkeypatch.setattr(csim.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(csim.CsimError, match=r"hls4ml.*pip install \"gan-jax\[fpga\]\""):
        csim.ap_types_dir()


@needs_gxx
def test_compile_error_shows_compiler_message(tmp_path, monkeypatch):
    monkeypatch.setenv("FPGA_CSIM_CACHE", str(tmp_path / "cache"))
    fw = hls.write_firmware(str(tmp_path), SMALL)
    broken = tmp_path / "broken.cpp"
    broken.write_text("int f() { return undefined_name_here; }\n")
    with pytest.raises(csim.CsimError, match=r"(?s)g\+\+ failed \(exit 1\) compiling broken.cpp.*undefined_name_here"):
        csim.compile_library(fw, [str(broken)], name="broken")


@needs_gxx
def test_engine_misuse_and_cache(engines):
    x = np.zeros((4, 4, 4), np.int64)
    from fpga.schedule import Pass

    layer = darknet.Conv(filters=4, size=1, stride=1, padding=0, batch_normalize=False, activation="linear",
                           in_channels=4)
    w = np.zeros((1, 1, 4, 4), np.int64)
    qc = Q.QConv(0, layer, w * 1.0, np.zeros(4), w, np.zeros(4, np.int64), 8, 8, 8)
    beats = hls.pass_weight_beats(qc, Pass(0, 4, 0, 4, True, True), 4, 4)
    with pytest.raises(csim.CsimError, match="beats left unread on the weights stream"):
        engines.conv(x, np.concatenate([beats, beats]), 4, 1)
    with pytest.raises(csim.CsimError, match="exceeds the line buffer"):
        engines.conv(np.zeros((1, 80, 4)), beats, 4, 1)
    mtime = os.path.getmtime(engines.path)
    again = csim.Engines.build(SMALL)  # cached: same library, not rebuilt
    assert again.path == engines.path and os.path.getmtime(again.path) == mtime
    assert again.config()["N_MAX"] == 8


@needs_gxx
def test_narrow_data_format_engines(net64):
    """12-bit data (DATA_BITS in the config header): saturation at +-2047 in the accumulation engine."""
    network = net64[0].network
    qnet = Q.quantize(network, random_variables(network, seed=3), Q.QuantConfig(data_bits=12, data_frac=11))
    x = R.quantize_input(qnet, np.random.default_rng(4).uniform(0, 1, (1, 64, 64, 3)))[0]
    engines12 = csim.Engines.build(SMALL, data_bits=12)
    assert engines12.config()["DATA_BITS"] == 12
    ref = R.forward(qnet, x[None])
    assert max(np.abs(ref[i]).max() for i in qnet.convs) == 2047  # some layer saturates
    for layer, y in csim.run_network(engines12, qnet, x).items():
        np.testing.assert_array_equal(y, ref[layer][0], err_msg=f"layer {layer}")
