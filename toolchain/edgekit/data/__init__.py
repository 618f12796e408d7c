"""HD-sEMG data: loaders (CSL-HDEMG, OT Bioelettronica, CapgMyo, Hyser), synthetic data, features, splits.

Each format module registers its loader (formats.register_format); importing them here, once,
completes the registry before anyone can look a format up.
"""

# isort: off
# Registration order is the order --format and the unknown-format error list the formats.
from . import csl, otb, capgmyo, hyser  # noqa: F401  (imported to register)

# isort: on
from .formats import FORMATS, load_recording
from .recording import LAYOUTS, N_CHANNELS, Recording, Trial, channel_mask, grid_index

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "N_CHANNELS",
    "Recording",
    "Trial",
    "channel_mask",
    "grid_index",
    "load_recording",
]
