"""Per-layer views of one inference: the device's per-op profile (ek-profile%) as a table, and
the device's intermediate tensors (ek-layer%) compared with tflite_micro's.

The host side runs tflite_micro with InterpreterConfig.kPreserveAllTensors, so after one invoke
GetTensor(t) holds every intermediate tensor t; op i of the .tflite writes tensor
ops[i].outputs[0], which is what the firmware's op i returns. Pure functions apart from
host_layer_outputs(), so the comparison is unit-testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgekitError
from ..export.tflite import TfliteInfo


@dataclass(frozen=True)
class OpProfile:
    index: int
    code: int
    name: str
    macs: int
    ticks: int
    out_bytes: int


@dataclass(frozen=True)
class ProfileTotals:
    ops: int
    sum_ticks: int  # sum of the per-op readings (one timer read per op included)
    whole_ticks: int  # one whole inference on the same input
    same_output: bool  # the op-by-op run gave the whole run's output bytes


@dataclass(frozen=True)
class ProfileCycles:
    """m4cycles' estimate of an ek-profile under QEMU: each op's ek_model_invoke_ops call and
    the whole inference's ek_model_invoke call, in estimated cycles."""

    per_op: list[int]
    whole: int


def host_layer_outputs(model: bytes, info: TfliteInfo, x: np.ndarray) -> list[np.ndarray]:
    """Output tensor (raw bytes as int8, flattened) of every op of `model` on input x, from
    tflite_micro with all tensors preserved."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(
        model,
        arena_size=max(1 << 20, len(model) * 10),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )
    shape = [int(v) for v in it.get_input_details(0)["shape"]]
    it.set_input(np.ascontiguousarray(x, dtype=np.int8).reshape(shape), 0)
    it.invoke()
    outs = []
    for op in info.ops:
        t = it.GetTensor(op.outputs[0], 0)["tensor_data"]
        outs.append(np.frombuffer(np.ascontiguousarray(t).tobytes(), dtype=np.int8).copy())
    return outs


def compare_layers(
    device: list[np.ndarray], host: list[np.ndarray], info: TfliteInfo
) -> dict[str, Any]:
    """Per op: bytes that differ and the max |difference| (as int8 values); the first op that
    differs (None when every layer is byte-identical)."""
    if len(device) != len(host) or len(host) != len(info.ops):
        raise EdgekitError(
            f"per-layer diff: device gave {len(device)} layers, tflite_micro "
            f"{len(host)}, the model has {len(info.ops)} ops"
        )
    rows = []
    first = None
    for i, (d, h) in enumerate(zip(device, host, strict=True)):
        op = info.ops[i]
        t = info.tensors[op.outputs[0]]
        row: dict[str, Any] = {
            "op": i,
            "name": op.op,
            "tensor": op.outputs[0],
            "tensor_name": t.name,
            "shape": t.shape,
            "bytes": int(h.size),
        }
        if d.size == 0 and op.op in ("PAD", "PADV2"):
            # edgekit-rt folds a zero-point PAD into the convolution that reads it: no tensor
            # exists on the device; that convolution's output (compared next) covers it.
            row.update(differing=0, max_abs_diff=None, note="folded into the next convolution")
        elif d.size != h.size:
            row.update(
                differing=int(max(d.size, h.size)),
                max_abs_diff=None,
                note=f"device sent {d.size} bytes, tflite_micro has {h.size}",
            )
        else:
            delta = np.abs(d.astype(np.int16) - h.astype(np.int16))
            row.update(
                differing=int(np.count_nonzero(delta)), max_abs_diff=int(delta.max(initial=0))
            )
        if row["differing"] and first is None:
            first = i
        rows.append(row)
    return {
        "layers": rows,
        "first_differing": first,
        "first_differing_name": None if first is None else rows[first]["name"],
        "identical": first is None,
    }


def diff_summary(diff: dict[str, Any]) -> str:
    n = len(diff["layers"])
    if diff["identical"]:
        return f"per-layer diff: all {n} layers byte-identical with tflite_micro"
    r = diff["layers"][diff["first_differing"]]
    mad = "n/a" if r["max_abs_diff"] is None else r["max_abs_diff"]
    return (
        f"per-layer diff: first differing layer is op {r['op']} ({r['name']}, tensor "
        f"{r['tensor']} {r['tensor_name']!r} {r['shape']}): {r['differing']} of {r['bytes']} "
        f"bytes differ, max |diff| {mad}"
    )


def profile_rows(
    ops: list[OpProfile],
    info: TfliteInfo,
    instr_per_tick: float | None,
    cycles: ProfileCycles | None = None,
) -> list[dict[str, Any]]:
    """One row per op: shapes from the .tflite, MACs and ticks from the device; instructions
    (ticks x instructions-per-tick) only under QEMU -icount; estimated cycles with m4cycles."""
    if len(ops) != len(info.ops):
        raise EdgekitError(
            f"ek-profile: device reports {len(ops)} ops, the model has {len(info.ops)}"
        )
    total = sum(p.ticks for p in ops) or 1
    rows = []
    for i, (p, op) in enumerate(zip(ops, info.ops, strict=True)):
        if p.name and p.name != op.op:
            raise EdgekitError(
                f"ek-profile: device op {p.index} is {p.name}, the model's is {op.op}"
            )
        instr = p.ticks * instr_per_tick if instr_per_tick else None
        rows.append(
            {
                "op": p.index,
                "name": op.op,
                "input_shape": info.tensors[op.inputs[0]].shape if op.inputs else [],
                "output_shape": info.tensors[op.outputs[0]].shape,
                "macs": p.macs,
                "ticks": p.ticks,
                "instructions": instr,
                "macs_per_instruction": (p.macs / instr) if instr and p.macs else None,
                "share": p.ticks / total,
            }
        )
        if cycles is not None:
            c = cycles.per_op[i]
            rows[-1]["cycles_estimate"] = c
            rows[-1]["cycles_per_mac"] = c / p.macs if p.macs else None
    return rows


def profile_record(
    ops: list[OpProfile],
    totals: ProfileTotals,
    info: TfliteInfo,
    instr_per_tick: float | None,
    cycles: ProfileCycles | None = None,
) -> dict[str, Any]:
    rows = profile_rows(ops, info, instr_per_tick, cycles)
    by_op: dict[str, dict[str, float]] = {}
    for r in rows:
        agg = by_op.setdefault(r["name"], {"count": 0, "macs": 0, "ticks": 0})
        agg["count"] += 1
        agg["macs"] += r["macs"]
        agg["ticks"] += r["ticks"]
        if cycles is not None:
            agg["cycles_estimate"] = agg.get("cycles_estimate", 0) + r["cycles_estimate"]
    rec: dict[str, Any] = {
        "layers": rows,
        "by_op": by_op,
        "ops": totals.ops,
        "sum_ticks": totals.sum_ticks,
        "whole_ticks": totals.whole_ticks,
        "sum_minus_whole_ticks": totals.sum_ticks - totals.whole_ticks,
        "op_by_op_output_matches_whole": totals.same_output,
        "instructions_per_tick": instr_per_tick,
        "note": (
            "per-op ticks read between ops run one at a time (ekrt_invoke_ops); their sum "
            "includes one timer read per op, so it differs slightly from the whole inference"
            + (
                "; instructions = ticks x 40 under QEMU -icount shift=0 (a proxy: +-1 tick "
                "of phase per op, not Cortex-M4 cycles)"
                if instr_per_tick
                else ""
            )
        ),
    }
    if instr_per_tick:
        rec["sum_instructions"] = totals.sum_ticks * instr_per_tick
        rec["whole_instructions"] = totals.whole_ticks * instr_per_tick
    if cycles is not None:
        rec["sum_cycles_estimate"] = sum(cycles.per_op)
        rec["whole_cycles_estimate"] = cycles.whole
        rec["note"] += (
            "; estimated Cortex-M4 cycles (TRM timing, zero wait states) per op: m4cycles from "
            "each op's entry to its return (no timer reads in them)"
        )
    return rec


def profile_markdown(prof: dict[str, Any], tick_unit: str) -> list[str]:
    q = prof.get("instructions_per_tick")
    cyc = "whole_cycles_estimate" in prof
    head = ["#", "op", "output shape", "MACs", f"ticks ({tick_unit})"]
    if q:
        head += ["instructions (QEMU)", "MACs / instr"]
    if cyc:
        head += ["est. M4 cycles", "cycles / MAC"]
    head += ["share"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in prof["layers"]:
        cells = [
            str(r["op"]),
            r["name"],
            "×".join(map(str, r["output_shape"])),
            f"{r['macs']:,}",
            f"{r['ticks']:,}",
        ]
        if q:
            mpi = r["macs_per_instruction"]
            cells += [f"{r['instructions']:,.0f}", "" if mpi is None else f"{mpi:.3f}"]
        if cyc:
            cpm = r["cycles_per_mac"]
            cells += [f"{r['cycles_estimate']:,}", "" if cpm is None else f"{cpm:.2f}"]
        cells.append(f"{100 * r['share']:.1f}%")
        out.append("| " + " | ".join(cells) + " |")
    tail = (
        f"Sum of per-op ticks {prof['sum_ticks']:,} vs one whole inference "
        f"{prof['whole_ticks']:,} ({prof['sum_minus_whole_ticks']:+,}); op-by-op output "
        f"{'matches' if prof['op_by_op_output_matches_whole'] else 'DIFFERS FROM'} the whole run."
    )
    if q:
        tail += (
            f" Instructions: {prof['sum_instructions']:,.0f} summed, "
            f"{prof['whole_instructions']:,.0f} whole."
        )
    if cyc:
        tail += (
            f" Estimated Cortex-M4 cycles (TRM timing, zero wait states): "
            f"{prof['sum_cycles_estimate']:,} summed, {prof['whole_cycles_estimate']:,} whole."
        )
    return out + ["", tail, "", f"Note: {prof['note']}."]


def plot_profile(prof: dict[str, Any], title: str, path: Any) -> None:
    """Horizontal bars: ticks (or QEMU instructions) per op, labelled with the op name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = prof["layers"]
    q = prof.get("instructions_per_tick")
    cyc = "whole_cycles_estimate" in prof
    key = "cycles_estimate" if cyc else "instructions" if q else "ticks"
    vals = [r[key] for r in rows]
    labels = [f"{r['op']} {r['name']}" for r in rows]
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.22 * len(rows) + 1.2)))
    ax.barh(range(len(rows)), vals, color="tab:blue")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(
        {
            "cycles_estimate": "estimated Cortex-M4 cycles per op (TRM timing, zero wait states)",
            "instructions": "instructions per op (QEMU -icount proxy)",
            "ticks": "ticks per op",
        }[key]
    )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
