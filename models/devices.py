"""Choose the torch device and dtype a model runs on.

torch is imported inside the functions, so importing this module stays cheap.
"""
from __future__ import annotations

from typing import Any

#: dtype names accepted wherever a dtype is configured.
DTYPE_NAMES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str = "auto") -> str:
    """Return the device to run on.

    Parameters
    ----------
    device : str
        ``"auto"`` picks ``"cuda"`` when a CUDA GPU is visible, then ``"mps"`` (Apple GPUs), then
        ``"cpu"``. Any other value (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is returned
        unchanged after checking that torch can use it.

    Returns
    -------
    str
        A torch device string.

    Raises
    ------
    ValueError
        If a GPU is requested and torch cannot see one.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = str(device).split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch sees no CUDA GPU")
    mps = getattr(torch.backends, "mps", None)
    if kind == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"device {device!r} requested but the MPS backend is not available")
    if kind not in ("cpu", "cuda", "mps", "xpu"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda[:N] or mps")
    return str(device)


def resolve_dtype(dtype: Any = "auto", device: str = "cpu", prefer: str = "float16") -> Any:
    """Return the torch dtype to load weights in.

    Parameters
    ----------
    dtype : str or torch.dtype
        ``"auto"``, one of :data:`DTYPE_NAMES`, or a ``torch.dtype``.
    device : str
        The resolved device (see :func:`resolve_device`).
    prefer : {"float16", "bfloat16"}
        Half-precision type the model family was trained in. ``"auto"`` gives float32 on the
        CPU, and ``prefer`` on a GPU (bfloat16 falls back to float16 on a CUDA GPU without
        bfloat16 support).

    Returns
    -------
    torch.dtype
    """
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_NAMES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    kind = device.split(":", 1)[0]
    if kind == "cpu":
        return torch.float32
    if prefer == "bfloat16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return getattr(torch, prefer)


def dtype_name(dtype: Any) -> str:
    """Name of a torch dtype without the ``torch.`` prefix (``"float16"``)."""
    return str(dtype).removeprefix("torch.")
