"""dlutils: the small helper library of the deep-learning tutorial collection.

    import dlutils as du
    du.setup(seed=42)                      # seeds, device line, profile
    EPOCHS = du.pick(full=12, quick=1)     # profile-dependent budget
    (x_train, y_train), (x_test, y_test) = du.data.load_mnist()
    du.plot.learning_curves(history);
    du.report("03_mlp_with_keras", test_accuracy=acc)

Modules: ``config`` (profile, seeds, settings), ``device`` (set-up), ``data`` (datasets),
``plot`` (figures), ``metrics`` (scores, timer), ``report`` (results/).
"""

import os as _os

# Keep TensorFlow's C++ start-up chatter out of notebook outputs; must happen before TF is imported.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import config, data, device, metrics, plot  # noqa: E402
from .config import is_quick, pick, profile, seed_everything, take  # noqa: E402
from .device import setup  # noqa: E402
from .metrics import Timer  # noqa: E402
from .report import report  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "config", "data", "device", "metrics", "plot",
    "is_quick", "pick", "profile", "seed_everything", "take", "setup", "Timer", "report",
]  # fmt: skip
