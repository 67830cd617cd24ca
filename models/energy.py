"""Energy per image: measured from hardware counters where readable, else estimated.

DESIGN.md §5. Counters, read before and after the timed runs of an edit:

* NVIDIA GPUs: NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver
  loaded; Volta and later), through ``nvidia-ml-py`` (module ``pynvml``). The counter is the
  whole board's: other work on the same GPU is counted too.
* Linux CPUs: the powercap RAPL package domains, ``/sys/class/powercap/intel-rapl:N/energy_uj``
  (microjoules, wrapping at ``max_energy_range_uj``); readable by root only on recent kernels.
  The package counts every process on it.

Without a counter (or when it did not move during the runs), the energy is estimated as the
declared power draw (``power_w`` in the models file) × the latency, and marked ``"estimated"``.
:func:`projected_energy` turns a per-image figure into the kWh of a benchmark run with an
everyday comparison.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

#: Where Linux exposes RAPL (Intel, and AMD since Linux 5.8 under the same name).
POWERCAP = Path("/sys/class/powercap")

JOULES_PER_WH = 3600.0


@dataclass(frozen=True)
class Energy:
    """Energy of one image in watt-hours and its source, ``"measured"`` or ``"estimated"``."""

    wh: float
    source: str


class CounterMeter:
    """A monotonic energy counter in joules (``read()``), with the value it wraps at."""

    def __init__(self, read: Callable[[], float], wrap_j: float | None = None, name: str = ""):
        self._read = read
        self.wrap_j = wrap_j
        self.name = name

    def read(self) -> float:
        return float(self._read())

    def joules_between(self, before: float, after: float) -> float:
        """Energy between two readings, across one wrap of the counter."""
        delta = after - before
        if delta < 0 and self.wrap_j:
            delta += self.wrap_j
        return max(delta, 0.0)


def rapl_meter(root: Path = POWERCAP) -> CounterMeter | None:
    """The sum of the RAPL package domains (``intel-rapl:N``, not their subzones), or None when
    there are none or they are not readable."""
    zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    readable = []
    for zone in zones:
        try:
            wrap = int((zone / "max_energy_range_uj").read_text()) / 1e6
            int((zone / "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        readable.append((zone / "energy_uj", wrap))
    if not readable:
        return None
    if len(readable) == 1:
        path, wrap = readable[0]
        return CounterMeter(lambda: int(path.read_text()) / 1e6, wrap, "rapl")
    # several packages: each wraps on its own, so sum their deltas rather than their values
    return _SummedMeter([CounterMeter(lambda p=p: int(p.read_text()) / 1e6, w) for p, w in readable])


class _SummedMeter(CounterMeter):
    """Several counters read together; a reading is the tuple, the energy the sum of deltas."""

    def __init__(self, meters: list[CounterMeter]):
        super().__init__(lambda: 0.0, None, "rapl")
        self.meters = meters

    def read(self) -> Any:  # a tuple of readings
        return tuple(m.read() for m in self.meters)

    def joules_between(self, before: Any, after: Any) -> float:
        return sum(m.joules_between(b, a) for m, b, a in zip(self.meters, before, after))


def nvml_meter(device: str, nvml: Any = None) -> CounterMeter | None:
    """NVML's total-energy counter of the GPU behind torch device ``device`` (``"cuda:1"``),
    or None without nvidia-ml-py, a driver, or a GPU that reports energy.

    ``nvml`` is the ``pynvml`` module (given in tests). The GPU is found by the UUID torch
    reports, since NVML numbers every GPU while CUDA sees those of ``CUDA_VISIBLE_DEVICES``.
    """
    try:
        if nvml is None:
            import pynvml as nvml  # nvidia-ml-py
        nvml.nvmlInit()
        handle = _nvml_handle(nvml, device)
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception:  # noqa: BLE001 - no library, no driver, or no energy counter
        return None
    return CounterMeter(lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0,
                        None, "nvml")


def _nvml_handle(nvml: Any, device: str) -> Any:
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    torch = sys.modules.get("torch")
    uuid = None
    if torch is not None and torch.cuda.is_available():
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    if uuid is not None:
        text = str(uuid)
        return nvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
    return nvml.nvmlDeviceGetHandleByIndex(index)


def meter_for(device: str) -> CounterMeter | None:
    """The energy counter for work on ``device``: NVML for CUDA devices, RAPL for the CPU."""
    if str(device).startswith("cuda"):
        return nvml_meter(str(device))
    if str(device).startswith("cpu"):
        return rapl_meter()
    return None


def estimated(latency_s: float | None, power_w: float | None) -> Energy | None:
    """Declared power draw (W) × latency (s), in Wh, marked estimated; None without either."""
    if latency_s is None or power_w is None:
        return None
    return Energy(power_w * latency_s / JOULES_PER_WH, "estimated")


def per_image(joules: float | None, images: int, latency_s: float | None,
              power_w: float | None) -> Energy | None:
    """Energy per image from a counter's joules over ``images`` edits, else the estimate."""
    if joules is not None and joules > 0 and images > 0:
        return Energy(joules / images / JOULES_PER_WH, "measured")
    return estimated(latency_s, power_w)


#: Everyday amounts of energy in kWh, largest first, with where the figure comes from.
EVERYDAY = (
    ("days of an average US home's electricity", 29.2,
     "EIA: 10,791 kWh a year per residential customer, 2022"),
    ("marathons run", 3.0, "about 2,600 kcal: ~1 kcal per kg per km for a 62 kg runner over 42.2 km"),
    ("kettles of water boiled", 0.1, "1 litre from 20 to 100 C: 4.19 kJ/kg/K x 80 K / ~0.93"),
    ("phone charges", 0.015, "a 4,000 mAh battery at 3.85 V is 15.4 Wh"),
)


def everyday(kwh: float) -> dict[str, Any]:
    """The comparison a reader can picture: marathons from one marathon up (the talk's unit),
    homes' days past 3,000 marathons, else kettles or phone charges; ``{"count", "unit",
    "text", "source"}``."""
    if kwh >= 3.0 * 3000:
        unit, each, source = EVERYDAY[0]
    elif kwh >= 3.0:
        unit, each, source = EVERYDAY[1]
    elif kwh >= 0.1:
        unit, each, source = EVERYDAY[2]
    else:
        unit, each, source = EVERYDAY[3]
    count = kwh / each
    if count >= 0.1:
        text = f"about {count:,.0f} {unit}" if count >= 10 else f"about {count:.1f} {unit}"
    else:  # below a tenth of a phone charge: a share of one
        text = f"{100 * count:.2g}% of one phone charge"
    return {"count": count, "unit": unit, "text": text, "source": source}


def projected_energy(items: int, wh_per_image: float | None) -> dict[str, Any] | None:
    """Energy of editing ``items`` images at ``wh_per_image`` each: ``{"items", "kwh",
    "comparison"}`` (see :func:`everyday`), or None when the energy per image is unknown.

    For example 26,000 images at 46 Wh each are 1,196 kWh: about 399 marathons.
    """
    if wh_per_image is None or not math.isfinite(wh_per_image):
        return None
    if items < 0 or wh_per_image < 0:
        raise ValueError("items and wh_per_image must be >= 0")
    kwh = items * wh_per_image / 1000.0
    return {"items": int(items), "kwh": kwh, "comparison": everyday(kwh)}
