"""The hardware report and the model-size recommendation."""

from __future__ import annotations

import importlib.util

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from llf_host._hardware import MODEL_SIZES_B
from llf_host._hardware import GiB
from llf_host._hardware import HardwareReport
from llf_host._hardware import _backends
from llf_host._hardware import doctor_section
from llf_host._hardware import hardware_report
from llf_host._hardware import model_bytes
from llf_host._hardware import recommend


def _rank(label: str | None) -> float:
    if label is None:
        return -1.0
    return float(label[:-1]) / (1000 if label.endswith("M") else 1)


@given(st.integers(0, 512 * GiB), st.integers(0, 512 * GiB))
def test_more_memory_never_recommends_a_smaller_model(a, b):
    small, large = recommend(min(a, b)), recommend(max(a, b))
    for quant in ("Q4_K_M", "Q5_K_M", "Q8_0", "F16"):
        assert _rank(large.largest.get(quant)) >= _rank(small.largest.get(quant))


@given(st.integers(1 * GiB, 512 * GiB))
def test_the_recommended_size_fits_and_the_next_one_does_not(memory):
    rec = recommend(memory)
    label = rec.largest["Q4_K_M"]
    size = _rank(label)
    assert model_bytes(size, 4.85) <= memory
    bigger = [s for s in MODEL_SIZES_B if s > size]
    if bigger:
        assert model_bytes(bigger[0], 4.85) > memory
    assert label in rec.summary


def test_typical_machines():
    assert recommend(8 * GiB).largest["Q4_K_M"] == "8B"
    assert recommend(int(0.2 * GiB)).largest == {}
    assert "may not fit" in recommend(int(0.2 * GiB)).summary


def test_backends_are_read_from_llama_system_info():
    assert _backends("CPU : SSE3 = 1 | AVX2 = 1 | OPENMP = 1 | ") == ["CPU"]
    info = "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : AVX2 = 1 | "
    assert _backends(info) == ["CUDA", "CPU"]


def test_report_describes_this_machine():
    report = hardware_report()
    assert isinstance(report, HardwareReport)
    assert report.cpu.logical_cores >= report.cpu.available_cores >= 1
    assert report.cpu.physical_cores >= 1
    assert report.memory.total_bytes and report.memory.total_bytes > 0
    assert report.recommendation.usable_bytes > 0
    if importlib.util.find_spec("llama_cpp") is not None:
        assert report.llama_cpp.installed
        assert "CPU" in report.llama_cpp.backends
    msgspec.json.encode(report)


async def test_doctor_section_is_json_ready():
    section = await doctor_section(host=None)
    assert section["title"] == "Hardware"
    assert section["status"] in ("ok", "warning", "error")
    assert any(line.startswith("Recommended model size:") for line in section["lines"])
    assert msgspec.json.decode(msgspec.json.encode(section))["data"]["cpu"]["logical_cores"] >= 1
