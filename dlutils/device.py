"""Device set-up: versions, GPU detection, memory growth, optional mixed precision.

Every notebook starts with::

    import dlutils as du
    du.setup(seed=42)

which seeds Python/NumPy/Keras, and prints one line such as
``TensorFlow 2.21.0 · Keras 3.15.1 (tensorflow backend) · CPU, 2 threads · profile full``.
It never fails for lack of a GPU, and works under the JAX or PyTorch backends of Keras too.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time

from . import config

_started_at: float | None = None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of Python and the main libraries (None for a library that is not installed)."""
    tf_version = _version("tensorflow") or _version("tensorflow-cpu")
    return {
        "python": platform.python_version(),
        "tensorflow": tf_version,
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "backend": _keras_backend(),
    }


def _keras_backend() -> str | None:
    """The Keras backend's name; None without Keras; "unavailable: …" when the chosen backend cannot load."""
    try:
        import keras
    except ImportError as err:
        if _version("keras") is None:
            return None
        return f"unavailable: {err}"
    return keras.backend.backend()


def gpus() -> list[str]:
    """Names of the GPUs the Keras backend can use (empty on a CPU-only machine)."""
    backend = _keras_backend()
    try:
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        import tensorflow as tf

        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return names
    except (ImportError, RuntimeError):
        return []


def describe() -> str:
    """A readable description of the compute device, e.g. ``NVIDIA H100 80GB HBM3`` or ``CPU, 2 threads``."""
    names = gpus()
    if names:
        return ", ".join(names)
    return f"CPU, {os.cpu_count()} threads"


def _enable_memory_growth() -> None:
    """Let TensorFlow allocate GPU memory as needed instead of grabbing all of it."""
    if _keras_backend() != "tensorflow":
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: growth can only be set before first use
            pass


def setup(seed: int = 42, mixed_precision: bool = False) -> None:
    """Seed everything, configure the device and print one line about the run.

    ``mixed_precision=True`` switches Keras to ``mixed_float16`` only when a GPU is present
    (on a CPU it would be slower); the printed line says whether it is on.
    """
    global _started_at
    _started_at = time.perf_counter()
    config.seed_everything(seed)
    _enable_memory_growth()
    v = versions()
    parts = []
    if v["tensorflow"]:
        parts.append(f"TensorFlow {v['tensorflow']}")
    if v["keras"]:
        backend = str(v["backend"])
        parts.append(f"Keras {v['keras']} ({'backend ' + backend if backend.startswith('unavailable') else backend + ' backend'})")
    elif v["backend"] is None:
        parts.append("Keras not installed")
    parts.append(describe())
    if mixed_precision:
        if gpus():
            import keras

            keras.mixed_precision.set_global_policy("mixed_float16")
            parts.append("mixed precision on")
        else:
            parts.append("mixed precision off (no GPU)")
    parts.append(f"profile {config.profile()}")
    parts.append(f"seed {seed}")
    print(" · ".join(parts))


def seconds_since_setup() -> float | None:
    """Seconds since the last ``setup()`` call in this process, or None if it was never called."""
    return None if _started_at is None else time.perf_counter() - _started_at
