"""python -m fpga.build end to end on a reduced yolov3-tiny (64 px): quantise, mAP float vs fixed, design point,
project, C-simulation through the generated ARM driver; --synth without the tools (says so) and with a stand-in
vivado_hls that writes a csynth.xml (parsed into the report); a design point over the device is refused."""

import os
import shutil
import stat

import jax
import numpy as np
import pytest

from detection import darknet
from fpga import build, hls
from tests.test_fpga_quantize import random_variables

SMALL = ["--size", "64", "--n-max", "8", "--p-mem", "2", "--lb-depth", "64", "--wb-depth", "72", "--w-max", "64",
         "--calibration", "2"]

CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <UserAssignments><Part>xc7z020clg484-1</Part><TopModelName>{engine}</TopModelName>
    <TargetClockPeriod>10.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><EstimatedClockPeriod>8.704</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency><Best-caseLatency>12</Best-caseLatency><Worst-caseLatency>undef</Worst-caseLatency>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates><Resources><BRAM_18K>7</BRAM_18K><DSP48E>3</DSP48E><FF>1000</FF><LUT>2000</LUT></Resources>
  </AreaEstimates>
</profile>
"""


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    text = darknet.yolov3_tiny_cfg(n_classes=13, width=0.125, size=64)
    (d / "tiny.cfg").write_text(text)
    network = darknet.parse_cfg(text)
    darknet.save_weights(str(d / "tiny.weights"), random_variables(network, seed=3), network)
    return str(d / "tiny.weights")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_build_end_to_end(weights_file, tmp_path, capsys):
    out = tmp_path / "prj"
    result = build.main(["--weights", weights_file, "--out", str(out), "--data", "offline", "--limit", "2",
                         "--synth", *SMALL])
    text = capsys.readouterr().out
    assert "VOC mAP@0.5 on 2 images of offline: float" in text
    assert "bit-exact with the reference" in text and "yolo_engine pass" in text
    assert "neither vivado_hls nor vitis_hls is on PATH" in text
    report = (out / "report.md").read_text()
    assert "## Design point" in report and "N_max=8 P_mem=2" in report and "## C-simulation" in report
    for rel in ("firmware/conv_engine.cpp", "firmware/fpga_config.h", "arm/driver.c", "arm/schedule.h",
                "arm/weights.bin", "ip/yolo_engine/run_hls.tcl", "vivado/block_design.tcl",
                "tb/conv_engine/expected.bin"):
        assert (out / rel).exists(), rel
    assert result["design"].n_max == 8 and result["qnet"].network.n_classes == 13


def test_synth_with_stand_in_tool(weights_file, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "vivado_hls"
    xml = CSYNTH.replace("{engine}", "$engine")
    tool.write_text("#!/bin/sh\nengine=$(basename \"$PWD\")\nd=${engine}_prj/solution1/syn/report\nmkdir -p $d\n"
                    f"cat > $d/csynth.xml <<EOF\n{xml}EOF\necho steps=$FPGA_HLS_STEPS > steps.txt\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "prj"
    build.main(["--weights", weights_file, "--out", str(out), "--no-csim", "--synth", *SMALL])
    text = capsys.readouterr().out
    assert "| conv_engine | undef | 8.704 | 7 | 3 | 1000 | 2000 |" in text
    assert "| total | | | 35 | 15 | 5000 | 10000 |" in text
    assert (out / "ip" / "acc_engine" / "steps.txt").read_text().strip() == "steps=csim csynth"
    parsed = hls.parse_csynth(hls.csynth_report_path(str(out), "yolo_engine"))
    assert parsed == {"top": "yolo_engine", "clock_ns": 8.704, "latency_best": 12, "latency_worst": None,
                      "bram18k": 7, "dsp": 3, "ff": 1000, "lut": 2000}


def test_design_over_the_device_is_refused(weights_file, tmp_path):
    with pytest.raises(SystemExit, match=r"N_max=64, P_mem=16 does not fit .*DSP48E 320 > 220 \(over by 100"):
        build.main(["--weights", weights_file, "--out", str(tmp_path / "p"), "--no-csim", "--size", "64",
                    "--n-max", "64", "--p-mem", "16", "--calibration", "1"])
