"""Export: QAT network -> ONNX -> int8 .tflite (onnx2tf) -> self-check -> host reference -> C array,
fit check. The stage is export/stage.py; the model it converts comes from export/source.py, its
self-check from export/checks.py. Firmware rendering is not done here (firmware.py does it
afterwards).
"""

from __future__ import annotations

from .checks import calibration_check, input_check
from .stage import calib_bytes, run_export, size_arena, table

__all__ = [
    "run_export",
    "calibration_check",
    "input_check",
    "size_arena",
    "table",
    "calib_bytes",
]
