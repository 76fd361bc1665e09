"""The machine under calibration: its name and memory, and a hardware profile whose figures are
measured (a CPU has no datasheet bandwidth or peak we could cite) or taken from a shipped
datasheet profile (`--hardware`), so one GPU can hold several engine calibrations.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

from magicplan.calibration.torch_runner.microbench import MicroResult
from magicplan.specs.hardware import PEAK_FIELD, HardwareSpec, Source
from magicplan.units import GB, TERA

SIGNIFICANT = 4  # digits kept of a measured figure: repeat runs differ in the third


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else platform)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: str) -> str:
    """Human name of the device the runner uses."""
    if device == "cpu":
        return cpu_name()
    import torch

    return str(torch.cuda.get_device_name(0))


def memory_bytes(device: str) -> float:
    """Physical memory of the device in bytes (host RAM for the CPU, from os.sysconf)."""
    if device == "cpu":
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    import torch

    return float(torch.cuda.get_device_properties(0).total_memory)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def _vendor(name: str, device: str) -> str:
    for vendor in ("intel", "amd", "nvidia", "apple", "arm", "ampere"):
        if vendor in name.lower():
            return vendor
    return "nvidia" if device == "cuda" else platform.machine() or "unknown"


def _sig(x: float) -> float:
    return float(f"{x:.{SIGNIFICANT}g}")


def measured_hardware(
    device: str, dtype: str, micro: MicroResult, threads: int, date: str, profile_id: str | None
) -> HardwareSpec:
    """A profile whose bandwidth and `dtype` peak are this run's microbenchmarks, cited as such."""
    name = device_name(device)
    where = f"measured by magicplan calibrate on {name}, {date}"
    peak = PEAK_FIELD[dtype]
    runs = f"{threads} thread{'s' if threads > 1 else ''}" if device == "cpu" else "1 GPU"
    return HardwareSpec(
        id=profile_id or f"{device}-{_slug(name)}",
        name=f"{name} ({runs}, measured)",
        vendor=_vendor(name, device),
        memory_gb=_sig(memory_bytes(device) / GB),
        hbm_bandwidth_tb_s=_sig(micro.bandwidth_bytes_per_s / TERA),
        **dict[str, Any]({peak: _sig(micro.peak_flops_per_s / TERA)}),
        notes=f"Datasheet-style figures measured with {runs}: they describe this machine as the "
        "runner drives it, not a vendor specification.",
        sources=[
            Source(
                fields=["hbm_bandwidth_tb_s", peak],
                citation=f"{where}: best rate of repeated copies (read + write bytes) and reads "
                f"of a working set the size of the model's weights; best of square {dtype} GEMMs",
            ),
            Source(
                fields=["memory_gb"],
                citation=f"{where}: os.sysconf page size x physical pages"
                if device == "cpu"
                else f"{where}: torch.cuda.get_device_properties(0).total_memory",
            ),
        ],
    )
