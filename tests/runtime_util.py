"""Shared helpers for the edgekit-rt tests (tests/test_runtime_*.py): where the runtime lives,
the ops each random model (rt_models.py) must hold, and the inputs and the tflite_micro
reference outputs the runtime is compared against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.export.rt_host import RUNTIME_DIR

RUNTIME = RUNTIME_DIR  # firmware/runtime (sources: edgekit.export.rt_host.runtime_sources())

N_RECORDS = 40  # random inputs per model


def tflm_outputs(model: Path, inputs: np.ndarray) -> np.ndarray:
    """The tflite_micro interpreter's output for each input record (TFLM's reference kernels)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model.read_bytes())
    outs = []
    for x in inputs:
        interp.set_input(x[None, ...], 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)).copy())
    return np.stack(outs)


def input_details(model: Path) -> tuple[tuple[int, ...], np.dtype]:
    from tflite_micro.python.tflite_micro import runtime

    d = runtime.Interpreter.from_bytes(model.read_bytes()).get_input_details(0)
    return tuple(int(v) for v in d["shape"][1:]), np.dtype(d["dtype"])


def random_inputs(model: Path, seed: int) -> np.ndarray:
    """N_RECORDS seeded inputs of the model's input shape and type, saturation corners first."""
    shape, dtype = input_details(model)
    rng = np.random.default_rng(seed)
    if dtype != np.int8:
        # float-input model (QUANTIZE first): values inside and beyond the calibrated range
        return (rng.normal(size=(N_RECORDS, *shape)) * 3.0).astype(np.float32)
    q = rng.integers(-128, 128, size=(N_RECORDS, *shape))
    q[0] = -128  # saturation corners
    q[1] = 127
    return q.astype(np.int8)


# ops the converter must have produced for each rt_models kind (else the test tests nothing)
EXPECTED_OPS = {
    "conv": {"CONV_2D"},
    "dw": {"DEPTHWISE_CONV_2D"},
    "fc": {"FULLY_CONNECTED"},
    "add": {"ADD"},
    "mean": {"MEAN"},
    "avgpool": {"AVERAGE_POOL_2D"},
    "maxpool": {"MAX_POOL_2D"},
    "addb": {"ADD"},
    "pad": {"PAD"},
    "reshape": {"RESHAPE", "FULLY_CONNECTED"},
    "transpose": {"TRANSPOSE", "RESHAPE", "FULLY_CONNECTED"},
    "softmax": {"FULLY_CONNECTED", "SOFTMAX"},
    "mbv2": {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD", "MEAN", "FULLY_CONNECTED"},
    "padconv": {"PAD"},
    "stack": {"CONV_2D"},
}
