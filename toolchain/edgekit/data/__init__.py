"""HD-sEMG data: loaders (CSL-HDEMG, OT Bioelettronica, CapgMyo, Hyser), synthetic data, features, splits."""

from .recording import (
    FORMATS,
    LAYOUTS,
    N_CHANNELS,
    Recording,
    Trial,
    channel_mask,
    grid_index,
    load_recording,
)

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
