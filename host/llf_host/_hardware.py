"""What this machine can run: CPU, memory, GPUs, the llama.cpp build, a model size.

:func:`hardware_report` gathers the facts (cheaply: ``/proc`` files, one
``nvidia-smi`` call when it exists, and llama-cpp-python's build flags when it is
installed) and :func:`recommend` turns the usable memory into the largest model
size per quantisation that fits. ``llf-host doctor`` shows it through
:func:`doctor_section`; ``host/health`` may include :func:`hardware_report`.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec

__all__ = [
    "CpuInfo",
    "GpuDevice",
    "HardwareReport",
    "LlamaCppBuild",
    "MemoryInfo",
    "Recommendation",
    "doctor_section",
    "hardware_report",
    "recommend",
]

log = logging.getLogger("llf.hardware")

GiB = 2**30
#: Checked through platform (not sys.platform) so type checkers keep both branches.
IS_MACOS = platform.system() == "Darwin"
MiB = 2**20

#: CPU features that matter to llama.cpp / mlx kernels, as reported in /proc/cpuinfo.
INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "neon",
    "dotprod",
    "i8mm",
    "sve",
)
_ARM_FLAG_NAMES = {"asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve"}

#: Bits per weight of common GGUF quantisations (llama.cpp's quantize table).
QUANT_BITS: dict[str, float] = {"Q4_K_M": 4.85, "Q5_K_M": 5.69, "Q8_0": 8.5, "F16": 16.0}
#: Parameter counts (billions) of common open model sizes.
MODEL_SIZES_B: tuple[float, ...] = (
    0.27,
    0.5,
    1.0,
    1.5,
    3.0,
    4.0,
    7.0,
    8.0,
    12.0,
    14.0,
    24.0,
    27.0,
    32.0,
    70.0,
    123.0,
)
#: Runtime overhead besides weights and KV cache (compute buffers, the process).
_OVERHEAD = 512 * MiB
#: f16 KV cache per billion parameters at a 4096-token context (GQA models).
_KV_PER_B = 64 * MiB


class CpuInfo(msgspec.Struct, omit_defaults=True):
    """The CPU: model, core counts and the features llama.cpp kernels use."""

    model: str
    architecture: str
    physical_cores: int
    logical_cores: int
    available_cores: int
    flags: list[str] = msgspec.field(default_factory=list)


class MemoryInfo(msgspec.Struct, omit_defaults=True):
    """RAM in bytes; ``limit_bytes`` is a cgroup (container) limit when one is set."""

    total_bytes: int | None = None
    available_bytes: int | None = None
    limit_bytes: int | None = None


class GpuDevice(msgspec.Struct, omit_defaults=True):
    """One accelerator."""

    kind: str
    name: str
    memory_bytes: int | None = None
    free_bytes: int | None = None


class LlamaCppBuild(msgspec.Struct, omit_defaults=True):
    """What the installed llama-cpp-python build supports."""

    installed: bool
    version: str | None = None
    backends: list[str] = msgspec.field(default_factory=list)
    gpu_offload: bool = False
    mmap: bool = False
    mlock: bool = False
    system_info: str = ""
    error: str | None = None


class Recommendation(msgspec.Struct, omit_defaults=True):
    """The largest common model size per quantisation that fits the usable memory."""

    usable_bytes: int
    basis: str
    largest: dict[str, str] = msgspec.field(default_factory=dict)
    summary: str = ""


class HardwareReport(msgspec.Struct, omit_defaults=True):
    """Everything :func:`hardware_report` found."""

    platform: str
    python: str
    cpu: CpuInfo
    memory: MemoryInfo
    gpus: list[GpuDevice]
    cuda: bool
    metal: bool
    llama_cpp: LlamaCppBuild
    mlx_installed: bool
    recommendation: Recommendation


# -- CPU ---------------------------------------------------------------------------
def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _sysctl(name: str) -> str:
    if not IS_MACOS or shutil.which("sysctl") is None:
        return ""
    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _cpu() -> CpuInfo:
    cpuinfo = _read("/proc/cpuinfo")
    model = ""
    flags: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical = ""
    for line in cpuinfo.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("model name", "Hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            for flag in value.split():
                flags.add(_ARM_FLAG_NAMES.get(flag, flag))
        elif key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    machine = platform.machine().lower()
    if IS_MACOS:
        model = model or _sysctl("machdep.cpu.brand_string")
        if machine in ("arm64", "aarch64"):
            flags.update({"neon", "dotprod"})
    logical = os.cpu_count() or 1
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = logical
    physical_count = len(cores)
    if not physical_count and IS_MACOS:
        physical_count = int(_sysctl("hw.physicalcpu") or 0)
    return CpuInfo(
        model=model or platform.processor() or machine,
        architecture=machine,
        physical_cores=physical_count or logical,
        logical_cores=logical,
        available_cores=max(1, available),
        flags=[f for f in INTERESTING_FLAGS if f in flags],
    )


# -- memory ------------------------------------------------------------------------
def _memory() -> MemoryInfo:
    info = MemoryInfo()
    meminfo = _read("/proc/meminfo")
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if not parts or not parts[0].isdigit():
            continue
        amount = int(parts[0]) * 1024
        if key == "MemTotal":
            info.total_bytes = amount
        elif key == "MemAvailable":
            info.available_bytes = amount
    if info.total_bytes is None:
        try:
            info.total_bytes = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):
            memsize = _sysctl("hw.memsize")
            info.total_bytes = int(memsize) if memsize.isdigit() else None
    limit = _read("/sys/fs/cgroup/memory.max").strip()
    if limit.isdigit() and info.total_bytes and int(limit) < info.total_bytes:
        info.limit_bytes = int(limit)
    return info


# -- accelerators --------------------------------------------------------------------
def _nvidia() -> list[GpuDevice]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return []
    devices = []
    for line in out.stdout.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3:
            continue
        name, total, free = fields
        devices.append(
            GpuDevice(
                kind="cuda",
                name=name,
                memory_bytes=int(total) * MiB if total.isdigit() else None,
                free_bytes=int(free) * MiB if free.isdigit() else None,
            )
        )
    return devices


def _metal() -> bool:
    return IS_MACOS and platform.machine().lower() in ("arm64", "aarch64")


def _backends(system_info: str) -> list[str]:
    found: list[str] = []
    for part in system_info.split("|"):
        name, sep, _rest = part.partition(" : ")
        name = name.strip()
        if sep and name and " " not in name and name not in found:
            found.append(name)
    return found


def _llama_cpp_build() -> LlamaCppBuild:
    if importlib.util.find_spec("llama_cpp") is None:
        return LlamaCppBuild(installed=False)
    try:
        import llama_cpp

        raw = llama_cpp.llama_print_system_info()
        system_info = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return LlamaCppBuild(
            installed=True,
            version=str(getattr(llama_cpp, "__version__", "?")),
            backends=_backends(system_info),
            gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
            mmap=bool(llama_cpp.llama_supports_mmap()),
            mlock=bool(llama_cpp.llama_supports_mlock()),
            system_info=system_info.strip(" |"),
        )
    except Exception as exc:  # noqa: BLE001 - a broken native build must not break the report
        return LlamaCppBuild(installed=True, error=f"{type(exc).__name__}: {exc}")


# -- recommendation ------------------------------------------------------------------
def model_bytes(params_b: float, bits: float) -> int:
    """Memory a model of ``params_b`` billion parameters needs at ``bits`` per weight."""
    return int(params_b * 1e9 * bits / 8 + params_b * _KV_PER_B + _OVERHEAD)


def _size_label(params_b: float) -> str:
    return f"{params_b * 1000:.0f}M" if params_b < 1 else f"{params_b:g}B"


def recommend(usable_bytes: int, basis: str = "RAM") -> Recommendation:
    """The largest common model size per quantisation within ``usable_bytes``."""
    largest: dict[str, str] = {}
    for quant, bits in QUANT_BITS.items():
        fitting = [size for size in MODEL_SIZES_B if model_bytes(size, bits) <= usable_bytes]
        if fitting:
            largest[quant] = _size_label(fitting[-1])
    if "Q4_K_M" in largest:
        q4 = largest["Q4_K_M"]
        summary = f"up to {q4} parameters at Q4_K_M"
        if "Q8_0" in largest:
            summary += f", {largest['Q8_0']} at Q8_0"
        summary += f" ({usable_bytes / GiB:.1f} GiB usable {basis})"
    else:
        summary = f"only {usable_bytes / GiB:.1f} GiB usable {basis}: even a 270M model may not fit"
    return Recommendation(usable_bytes=usable_bytes, basis=basis, largest=largest, summary=summary)


def _usable(memory: MemoryInfo, gpus: list[GpuDevice], metal: bool) -> tuple[int, str]:
    cuda_free = sum(g.free_bytes or g.memory_bytes or 0 for g in gpus if g.kind == "cuda")
    if cuda_free:
        return int(cuda_free * 0.9), "GPU memory"
    ram = memory.available_bytes or memory.total_bytes or 0
    if memory.limit_bytes:
        ram = min(ram, memory.limit_bytes)
    if metal and memory.total_bytes:
        # macOS lets the GPU wire about 75% of unified memory by default.
        return int(min(ram, memory.total_bytes * 0.75)), "unified memory"
    return int(ram * 0.9), "RAM"


@functools.lru_cache(maxsize=1)
def _static_facts() -> tuple[CpuInfo, list[GpuDevice], bool, LlamaCppBuild, bool]:
    gpus = _nvidia()
    return (
        _cpu(),
        gpus,
        _metal(),
        _llama_cpp_build(),
        importlib.util.find_spec("mlx") is not None,
    )


def hardware_report() -> HardwareReport:
    """Gather the report (CPU, GPU and build facts are cached; memory is read fresh)."""
    cpu, gpus, metal, build, mlx = _static_facts()
    memory = _memory()
    usable, basis = _usable(memory, gpus, metal)
    return HardwareReport(
        platform=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        cuda=any(g.kind == "cuda" for g in gpus),
        metal=metal,
        llama_cpp=build,
        mlx_installed=mlx,
        recommendation=recommend(usable, basis),
    )


def _gib(amount: int | None) -> str:
    return f"{amount / GiB:.1f} GiB" if amount is not None else "unknown"


def report_lines(report: HardwareReport) -> list[str]:
    """The report as short human-readable lines."""
    cpu = report.cpu
    lines = [
        f"CPU: {cpu.model} ({cpu.architecture}), {cpu.physical_cores} physical / "
        f"{cpu.logical_cores} logical cores, {cpu.available_cores} available",
        f"CPU features: {', '.join(cpu.flags) or 'none detected'}",
        f"RAM: {_gib(report.memory.total_bytes)} total, "
        f"{_gib(report.memory.available_bytes)} available"
        + (
            f", container limit {_gib(report.memory.limit_bytes)}"
            if report.memory.limit_bytes
            else ""
        ),
    ]
    for gpu in report.gpus:
        lines.append(f"GPU ({gpu.kind}): {gpu.name}, {_gib(gpu.memory_bytes)}")
    lines.append(
        f"CUDA: {'yes' if report.cuda else 'no'}; Metal: {'yes' if report.metal else 'no'}"
    )
    build = report.llama_cpp
    if not build.installed:
        lines.append("llama-cpp-python: not installed (pip install 'llf-host[local]')")
    elif build.error:
        lines.append(f"llama-cpp-python: installed but broken: {build.error}")
    else:
        offload = "GPU offload" if build.gpu_offload else "CPU only"
        lines.append(
            f"llama-cpp-python {build.version}: backends {', '.join(build.backends) or '?'}"
            f" ({offload})"
        )
    lines.append(f"mlx: {'installed' if report.mlx_installed else 'not installed'}")
    lines.append(f"Recommended model size: {report.recommendation.summary}")
    return lines


async def doctor_section(host: Any) -> dict[str, Any]:
    """The hardware section of ``llf-host doctor``: a title, a status, lines and data."""
    import asyncio

    report = await asyncio.to_thread(hardware_report)
    status = "ok"
    if report.llama_cpp.installed and report.llama_cpp.error:
        status = "error"
    elif not report.llama_cpp.installed:
        status = "warning"
    return {
        "title": "Hardware",
        "status": status,
        "lines": report_lines(report),
        "data": msgspec.to_builtins(report),
    }
