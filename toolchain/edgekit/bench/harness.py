"""run_bench: check the exported int8 model on a board (or QEMU) against the host reference.

For each test sample the device gets the exact int8 input the host reference used and must return
the same raw int8 output bytes (tflite_micro's kernels on the host, edgekit-rt or TFLM on the device).
Latency comes from the device's own timer (ek-run ticks) and from the MLPerf-style `infer N W`
m-lap-us path on a few samples.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from ..boards import Board, Timeouts
from ..errors import EdgekitError
from ..firmware import read_build_record
from ..progress import progress_bar
from . import layers, protocol
from .link import DeviceError, DeviceLink, DeviceReset, LinkError, LinkTimeout
from .protocol import EkInfo, ProtocolError

BuildFn = Callable[[], "Path | str | dict[str, Any]"]
MODES = ("ek-run", "db")

# Retries and limits (the board's own boot and command timeouts are in its TOML: boards/README.md).
# A sample that hits a reset, a timeout or a mangled reply is redone this many times: line noise
# and a rare brown-out pass within one or two; a deterministic failure still ends the bench.
RETRIES = 3
# More resets than this in one bench is a board problem (power, stack or arena overflow), not noise.
MAX_RESETS = 5
# Once one inference has been timed, a command is declared hung after HANG_FACTOR times the
# measured inference (never less than MIN_COMMAND_S): far above jitter, far below "forever".
HANG_FACTOR = 20.0
MIN_COMMAND_S = 5.0
# Slack on top of the inference time for commands that also move data (infer N W replies,
# ek-layer chunks: a few KB at 115200 baud).
TRANSFER_SLACK_S = 5.0
# ek-profile runs one inference op by op and prints a line per op: three inferences' time plus
# the printing of ~100 lines.
PROFILE_INFERENCES = 3
PROFILE_SLACK_S = 10.0


@dataclass
class Reference:
    x: np.ndarray  # (N, H, W, C) int8, the model's input tensor
    y: np.ndarray  # (N, C) int8, tflite_micro's output
    labels: np.ndarray  # (N,) int64
    label_names: list[str]
    model_hash: str
    tflite: Path
    export: dict[str, Any]


def load_reference(run: runs.Run) -> Reference:
    ref_path = run.require(
        run.export_dir / "reference.npz", "host reference", "run `edgekit export` first"
    )
    tfl = run.require(
        run.export_dir / "model_int8.tflite", "int8 model", "run `edgekit export` first"
    )
    z = runs.load_npz(ref_path)
    for key in ("x_int8", "y_int8", "labels", "label_names"):
        if key not in z:
            raise EdgekitError(f"{ref_path}: missing array '{key}' (re-run `edgekit export`)")
    x, y, labels = z["x_int8"], z["y_int8"], z["labels"]
    if x.dtype != np.int8 or y.dtype != np.int8:
        raise EdgekitError(f"{ref_path}: x_int8/y_int8 should be int8, got {x.dtype}/{y.dtype}")
    if not (len(x) == len(y) == len(labels)) or len(x) == 0 or y.ndim != 2:
        raise EdgekitError(
            f"{ref_path}: x_int8 {x.shape}, y_int8 {y.shape}, labels {labels.shape} "
            "should be (N,H,W,C), (N,C), (N,) with the same N > 0"
        )
    c = y.shape[1]
    if labels.min() < 0 or labels.max() >= c or len(z["label_names"]) != c:
        raise EdgekitError(
            f"{ref_path}: labels should be in 0..{c - 1} with {c} label_names "
            f"(got {labels.min()}..{labels.max()}, {len(z['label_names'])} names)"
        )
    exp_path = run.export_dir / "export.json"
    export = runs.read_json(exp_path) if exp_path.exists() else {}
    return Reference(
        x,
        y,
        labels.astype(np.int64),
        [str(s) for s in z["label_names"]],
        runs.model_hash(tfl.read_bytes()),
        tfl,
        export,
    )


def pick_samples(n_total: int, samples: int, seed: int = 0) -> np.ndarray:
    """A fixed, seeded subset (sorted), so class-ordered references are sampled evenly."""
    if samples <= 0:
        raise EdgekitError(f"--samples: must be >= 1, got {samples}")
    if samples >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, samples, replace=False))


# ------------------------------------------------------------------------ device session


class _Session:
    """One board conversation with bounded retries: a sample that hits a reset or a timeout is
    re-synchronised and redone, at most `retries` times each and `max_resets` resets in all."""

    def __init__(
        self,
        link: DeviceLink,
        ref: Reference,
        retries: int,
        max_resets: int,
        fw_hint: str,
        timeouts: Timeouts | None = None,
    ):
        self.link, self.ref = link, ref
        self.retries, self.max_resets = retries, max_resets
        self.fw_hint = fw_hint
        self.rebuild_hint = ""
        self.n_in = int(np.prod(ref.x.shape[1:]))
        self.n_out = int(ref.y.shape[1])
        self.timeouts = timeouts or Timeouts()
        self.cmd_timeout = self.timeouts.first_inference_s  # until one inference has been timed
        self.info: EkInfo | None = None
        self.name = ""
        self.profile = ""
        self.retried: list[dict[str, Any]] = []
        self.model_unchecked: str | None = None  # plain EEMBC device: what m-model-[...] said

    # identification -----------------------------------------------------------------------

    def start(self, boot_timeout: float) -> None:
        try:  # a board that resets on open (DTR) prints its banner now; silence is fine too
            self.link.wait_ready(boot_timeout)
        except LinkTimeout:
            pass
        self.link.sync()
        self.identify()

    def identify(self) -> None:
        self.name = self.link.expect("name", "name").value
        replies = self.link.command("profile", check=False)
        self.profile = next((r.value for r in replies if r.kind == "profile"), "")
        prof_hash = next((r.value for r in replies if r.kind == "model"), None)
        try:
            self.info = protocol.parse_ek_info(self.link.expect("ek-info", "ek_info"))
            dev_hash = self.info.hash
        except DeviceError as e:
            if not e.device_message.lower().startswith("unknown command"):
                raise EdgekitError(
                    f"{self.link.url}: the firmware cannot run its model "
                    f"({e.device_message}); re-export and flash the firmware from "
                    f"{self.fw_hint}"
                ) from None
            self.info = None  # MLPerf Tiny firmware without the ek- extensions
            dev_hash = prof_hash
        if self.info is None and not _looks_like_hash(dev_hash):
            # plain EEMBC firmware names its model (m-model-[ic01]) instead of hashing it: the
            # model cannot be identified, so the bench checks the output size and says so
            self.model_unchecked = dev_hash or "(none)"
            return
        if dev_hash is None:
            raise EdgekitError(
                f"{self.link.url}: the device ({self.name or 'unnamed'}) reports no "
                "model hash (neither ek-info% nor profile% m-model-[...]), so its "
                "model cannot be checked against this run; flash edgekit firmware "
                f"from {self.fw_hint}"
            )
        if dev_hash != self.ref.model_hash:
            raise EdgekitError(
                f"device runs model {dev_hash}, this run exported {self.ref.model_hash} "
                f"({self.ref.tflite}): flash the firmware from {self.fw_hint}"
                + (f" (rebuild it first: {self.rebuild_hint})" if self.rebuild_hint else "")
            )
        if self.info is not None and (self.info.inputs, self.info.outputs) != (
            self.n_in,
            self.n_out,
        ):
            raise EdgekitError(
                f"device model takes {self.info.inputs} inputs / {self.info.outputs} "
                f"outputs, reference.npz has {self.n_in} / {self.n_out}: re-export "
                f"and flash the firmware from {self.fw_hint}"
            )

    # retries ------------------------------------------------------------------------------

    def retry(self, what: str, fn: Callable[[], Any]) -> Any:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except DeviceReset as e:
                last = e
                self.retried.append({"what": what, "why": "reset", "attempt": attempt})
                if self.link.stats.resets > self.max_resets:
                    raise EdgekitError(
                        f"the device reset {self.link.stats.resets} times during the "
                        f"bench (last during {what}); check its power supply and "
                        "cable, and for stack or arena overflow in the firmware"
                    ) from e
                self._recover(after_reset=True)
            except (LinkTimeout, ProtocolError, DeviceError) as e:
                # a well-formed command answered e-[...] or a mangled reply: noise on the line
                # is the likely cause, so redo it (a deterministic failure still ends below)
                last = e
                self.retried.append({"what": what, "why": type(e).__name__, "attempt": attempt})
                self._recover(after_reset=False)
        raise EdgekitError(f"{what}: failed {self.retries + 1} times; last error: {last}")

    def _recover(self, after_reset: bool) -> None:
        if after_reset:
            try:
                self.link.wait_ready(self.timeouts.reboot_s)  # the rebooted firmware's init
            except LinkTimeout:
                pass
        self.link.sync()
        if after_reset:
            self.identify()  # the same model must come back after a reset

    # measurements -------------------------------------------------------------------------

    def _timeout_after(self, wall: float) -> None:
        self.cmd_timeout = max(MIN_COMMAND_S, HANG_FACTOR * wall)

    def ek_run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        t = time.monotonic()
        r = self.link.expect(protocol.cmd_ek_run(x), "ek_run", timeout=self.cmd_timeout)
        res = protocol.parse_ek_run(r, self.n_out)
        self._timeout_after(time.monotonic() - t)
        return res.output, res.ticks

    def db_load(self, x: np.ndarray) -> None:
        data = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        self.link.expect(protocol.cmd_db_load(len(data)), "load_expecting")
        chunks = protocol.cmds_db_data(data)
        for i, c in enumerate(chunks):
            replies = self.link.command(c)
            if i == len(chunks) - 1 and not any(r.kind == "load_done" for r in replies):
                raise ProtocolError(f"db: no m-load-done after {len(data)} bytes")

    def infer(self, n: int, warmup: int) -> list[protocol.Reply]:
        t = time.monotonic()
        replies = self.link.command(
            protocol.cmd_infer(n, warmup),
            timeout=self.cmd_timeout * (n + warmup) + TRANSFER_SLACK_S,
        )
        self._timeout_after((time.monotonic() - t) / max(1, n + warmup))
        return replies

    def out_and_ticks(self) -> tuple[np.ndarray, int, int]:
        out = protocol.parse_ek_out(self.link.expect("ek-out", "ek_out"), self.n_out)
        ticks, n = protocol.parse_ek_ticks(self.link.expect("ek-ticks", "ek_ticks"))
        return out, ticks, n

    def db_run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        self.db_load(x)
        self.infer(1, 0)
        out, ticks, n = self.out_and_ticks()
        return out, ticks // max(1, n)

    def plain_run(self, x: np.ndarray, n: int = 1, warmup: int = 0) -> tuple[list[float], float]:
        """Plain EEMBC: db load + infer N W; (m-results vector, µs per inference from m-lap-us)."""
        self.db_load(x)
        replies = self.infer(n, warmup)
        laps = [protocol.parse_lap_us(r) for r in replies if r.kind == "lap_us"]
        res = [protocol.parse_results(r) for r in replies if r.kind == "results"]
        if len(laps) != 2 or not res:
            raise ProtocolError(
                f"infer {n} {warmup}: expected 2 m-lap-us lines and m-results, got "
                f"{len(laps)} and {len(res)}"
            )
        if len(res[-1]) != self.n_out:
            raise EdgekitError(
                f"{self.link.url}: m-results has {len(res[-1])} values, the exported "
                f"model has {self.n_out} outputs: the device runs another model"
            )
        return res[-1], (laps[1] - laps[0]) / n

    def lap(self, x: np.ndarray, n: int, warmup: int) -> dict[str, Any]:
        """MLPerf-style timing: infer N W, (t1 - t0) / N from the m-lap-us lines."""
        self.db_load(x)
        replies = self.infer(n, warmup)
        laps = [protocol.parse_lap_us(r) for r in replies if r.kind == "lap_us"]
        if len(laps) != 2:
            raise ProtocolError(f"infer {n} {warmup}: expected 2 m-lap-us lines, got {len(laps)}")
        rec: dict[str, Any] = {
            "n": n,
            "warmup": warmup,
            "us_per_inference": (laps[1] - laps[0]) / n,
        }
        res = [protocol.parse_results(r) for r in replies if r.kind == "results"]
        rec["results"] = res[-1] if res else None
        if self.info is not None:
            out, ticks, tn = self.out_and_ticks()
            rec["ticks_per_inference"] = ticks / max(1, tn)
            rec["output"] = out
        return rec

    # per-op views (ek-profile, ek-layer) ------------------------------------------------------

    def ek_profile(self, x: np.ndarray) -> tuple[list[layers.OpProfile], layers.ProfileTotals]:
        """Per-op ticks of one inference on x (the firmware runs the ops one at a time)."""
        self.db_load(x)
        replies = self.link.command(
            "ek-profile", timeout=self.cmd_timeout * PROFILE_INFERENCES + PROFILE_SLACK_S
        )
        ops = [
            layers.OpProfile(*protocol.parse_ek_profile_op(r))
            for r in replies
            if r.kind == "ek_profile_op"
        ]
        tot = [protocol.parse_ek_profile(r) for r in replies if r.kind == "ek_profile"]
        if (
            len(tot) != 1
            or tot[0][0] != len(ops)
            or [o.index for o in ops] != list(range(len(ops)))
        ):
            raise ProtocolError(
                f"ek-profile: expected ops 0..N-1 then one m-ek-profile-ops line, "
                f"got {len(ops)} op lines and {len(tot)} totals"
            )
        return ops, layers.ProfileTotals(*tot[0])

    def ek_layers(self, x: np.ndarray, n_ops: int) -> list[np.ndarray]:
        """Output tensor of every op on input x (ek-layer I OFF, chunk by chunk)."""
        self.db_load(x)
        outs = []
        for i in range(n_ops):
            parts: list[np.ndarray] = []
            off, total = 0, None
            while total is None or off < total:
                r = self.link.expect(
                    protocol.cmd_ek_layer(i, off),
                    "ek_layer",
                    timeout=self.cmd_timeout + TRANSFER_SLACK_S,
                )
                op, at, total, chunk = protocol.parse_ek_layer(r)
                if op != i or at != off:
                    raise ProtocolError(f"ek-layer {i} {off}: device answered op {op} at {at}")
                if chunk.size == 0:
                    break
                parts.append(chunk)
                off += chunk.size
            outs.append(np.concatenate(parts) if parts else np.zeros(0, np.int8))
        return outs


def _looks_like_hash(v: str | None) -> bool:
    return v is not None and len(v) == 16 and all(c in "0123456789abcdef" for c in v)


# ------------------------------------------------------------------------ connection


def _elf_from(built: Path | str | dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    if isinstance(built, dict):
        if "elf" not in built:
            raise EdgekitError(f"firmware build returned no 'elf' path ({sorted(built)})")
        return Path(built["elf"]), built
    return Path(built), {}


def _built_elf(run: runs.Run, board: Board, fw_name: str) -> tuple[Path, dict[str, Any]]:
    """The ELF and build record build() left in <run>/firmware/<fw_name>/build.json."""
    fw_dir = run.firmware_dir(fw_name)
    rec = read_build_record(fw_dir)
    if rec is None or not rec.get("elf"):
        raise EdgekitError(
            f"{fw_dir}: no firmware build record ({fw_dir / 'build.json'}); build "
            f"it with `edgekit export --board {board.name} --build`"
        )
    return Path(rec["elf"]), rec


def boot_timeout(board: Board, port: str | None) -> float:
    """How long to wait for the firmware's first m-ready: QEMU (port None) holds the guest until
    we connect, so its banner comes; a real board may have booted long ago or reset on open."""
    return board.timeouts.qemu_boot_s if port is None else board.timeouts.boot_s


@contextlib.contextmanager
def open_device(
    run: runs.Run,
    board: Board,
    port: str | None,
    baud: int | None,
    build_fn: BuildFn | None,
    build_info: dict[str, Any],
    fw_name: str | None = None,
) -> Iterator[tuple[DeviceLink, str]]:
    """Yield (link, where) for a real port, or for QEMU booting the run's firmware (build_fn's,
    else the one built in <run>/firmware/<fw_name or board>/)."""
    baud = baud or board.baud
    if port is not None:
        hint = (
            f"for board {board.name}: --baud {board.baud} is its rate; a board that resets on "
            "open needs a few seconds"
        )
        with DeviceLink(port, baud, timeout=board.timeouts.command_s, hint=hint) as link:
            yield link, port
        return
    if not board.emulated:
        raise EdgekitError(
            f"--port: board {board.name} is real hardware; give its serial port, "
            "e.g. --port /dev/ttyUSB0 (or any pyserial URL)"
        )
    from .qemu import run_qemu

    if build_fn is not None:
        elf, info = _elf_from(build_fn())
    else:
        elf, info = _built_elf(run, board, fw_name or board.name)
    build_info.update(info)
    with run_qemu(board, elf) as q:
        hint = f"QEMU {q.machine} running {elf}"
        try:
            with DeviceLink(
                q.url,
                baud,
                timeout=board.timeouts.command_s,
                hint=hint,
                rx_fifo=str(q.rx_fifo) if q.rx_fifo else None,
            ) as link:
                yield link, f"qemu:{q.machine}"
        except LinkError as e:
            log = q.log().strip()
            if log:
                raise LinkError(f"{e}\nQEMU output:\n{log}") from None
            raise


# ------------------------------------------------------------------------ statistics


def _latency(ticks: np.ndarray, hz: float, unit: str, note: str) -> dict[str, Any]:
    """The bench report's latency record from per-sample ticks at hz."""
    us = ticks * 1e6 / hz
    return {
        "ticks": _stats(ticks),
        "us": _stats(us),
        "median_us": float(np.median(us)),
        "p90_us": float(np.percentile(us, 90)),
        "max_us": float(np.max(us)),
        "median_ticks": float(np.median(ticks)),
        "p90_ticks": float(np.percentile(ticks, 90)),
        "max_ticks": float(np.max(ticks)),
        "tick_unit": unit,
        "tick_hz": hz,
        "note": note,
    }


def _stats(v: np.ndarray) -> dict[str, float]:
    return {
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(np.max(v)),
        "min": float(np.min(v)),
        "mean": float(np.mean(v)),
    }


def confusion(labels: np.ndarray, pred: np.ndarray, c: int) -> np.ndarray:
    m = np.zeros((c, c), dtype=np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def qemu_note(hz: int) -> str:
    ipt = 1e9 / hz
    return (
        f"QEMU -icount shift=0: each guest instruction takes 1 ns of virtual time, so a tick "
        f"at {hz:,} Hz is an instruction-count proxy (1 tick = {ipt:g} instructions, +-1 tick "
        "of phase), not Cortex-M4 cycles; µs are QEMU virtual time, not Cortex-M4 time"
    )


# ------------------------------------------------------------------------ run_bench


def run_bench(
    run: runs.Run,
    board: Board,
    port: str | None,
    samples: int = 200,
    warmup: int = 1,
    progress: bool = True,
    build_fn: BuildFn | None = None,
    *,
    baud: int | None = None,
    mode: str = "ek-run",
    latency_samples: int = 3,
    latency_n: int = 10,
    retries: int = RETRIES,
    max_resets: int = MAX_RESETS,
    seed: int = 0,
    write: bool = True,
    on_sample: Callable[[int], None] | None = None,
    bench_name: str | None = None,
    profile: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """Bench the run's exported model on `board` (via `port`, or QEMU when port is None and the
    board is emulated; build_fn() then returns the ELF path or a build-info dict with 'elf',
    'flash_bytes', 'ram_bytes'). Writes bench.json/.md/.png into run.bench_dir(board) and returns
    the record (its 'summary' is the human text). on_sample(j) is called before sample j
    (progress reporting for callers that show their own). bench_name: the bench/ subdirectory
    (default the board's name; firmware.project_name() for a second runtime). profile: add the
    per-op profile (ek-profile) of the first sample; diff: compare every layer's output on the
    first sample with tflite_micro's (ek-layer) and name the first that differs."""
    if mode not in MODES:
        raise EdgekitError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    ref = load_reference(run)
    idx = pick_samples(len(ref.x), samples, seed)
    fw_hint = str(run.firmware_dir(board.name))
    build_info: dict[str, Any] = {}
    outs = np.zeros((len(idx), ref.y.shape[1]), dtype=np.int8)
    ticks = np.zeros(len(idx), dtype=np.int64)
    laps: list[dict[str, Any]] = []
    t_start = time.monotonic()

    fw_name = bench_name or board.name
    with open_device(run, board, port, baud, build_fn, build_info, fw_name) as (link, where):
        s = _Session(link, ref, retries, max_resets, fw_hint, board.timeouts)
        s.rebuild_hint = f"edgekit export --board {board.name} --build"
        s.start(boot_timeout=boot_timeout(board, port))  # sync() retries cover a slower boot
        if s.info is None:  # plain EEMBC / MLPerf Tiny firmware: no raw int8 outputs
            return _bench_plain(
                s,
                run,
                board,
                ref,
                idx,
                where,
                port is None,
                warmup=warmup,
                progress=progress,
                latency_samples=latency_samples,
                latency_n=latency_n,
                seed=seed,
                write=write,
                on_sample=on_sample,
                t_start=t_start,
                bench_name=bench_name,
            )
        one = s.ek_run if mode == "ek-run" else s.db_run
        for _ in range(max(0, warmup)):  # first-call effects (caches, lazy init) stay out of stats
            s.retry("warmup", lambda: one(ref.x[idx[0]]))
        for j in progress_bar(range(len(idx)), f"bench {board.name}", progress):
            if on_sample is not None:
                on_sample(j)
            x = ref.x[idx[j]]
            outs[j], ticks[j] = s.retry(f"sample {int(idx[j])}", lambda x=x: one(x))
        for j in range(min(latency_samples, len(idx))):
            x = ref.x[idx[j]]
            laps.append(
                s.retry(
                    f"infer {latency_n} {warmup} on sample {int(idx[j])}",
                    lambda x=x: s.lap(x, latency_n, warmup),
                )
            )
        per_op = _per_op(s, ref, int(idx[0]), profile, diff) if (profile or diff) else {}
        info, name, profile, stats = s.info, s.name, s.profile, link.stats
        retried = s.retried
    wall = time.monotonic() - t_start

    # ------------------------------------------------------------- metrics
    y_ref, labels = ref.y[idx], ref.labels[idx]
    c = ref.y.shape[1]
    exact = np.all(outs == y_ref, axis=1)
    dev_pred, host_pred = outs.argmax(1), y_ref.argmax(1)
    hz = info.tick_hz
    emulated = port is None  # we booted QEMU ourselves, with -icount shift=0
    lat = _latency(
        ticks,
        hz,
        info.tick_unit,
        qemu_note(hz) if emulated else f"{info.tick_unit} at {hz:,} Hz on the device",
    )
    lap_rec = []
    for j, lap in enumerate(laps):
        same = None if "output" not in lap else bool(np.array_equal(lap["output"], outs[j]))
        lap_rec.append(
            {
                "sample": int(idx[j]),
                "n": lap["n"],
                "warmup": lap["warmup"],
                "us_per_inference": lap["us_per_inference"],
                "ticks_per_inference": lap.get("ticks_per_inference"),
                "output_matches_ek_run": same,
            }
        )
    macs = ref.export.get("macs")
    if not build_info and port is not None:  # a real board: the build of this export, if any
        built = read_build_record(run.firmware_dir(fw_name))
        build_info = built if built and built.get("model_hash") == ref.model_hash else {}
    flash, ram = build_info.get("flash_bytes"), build_info.get("ram_bytes")
    med_ticks = float(np.median(ticks))
    rec: dict[str, Any] = {
        "stage": "bench",
        "board": board.name,
        "where": where,
        "emulated": emulated,
        "mode": mode,
        "run": str(run.root),
        "device": {
            "name": name,
            "profile": profile,
            "runtime": info.runtime,
            "model_hash": info.hash,
            "arena_bytes": info.arena,
            "arena_used": info.used,
            "inputs": info.inputs,
            "outputs": info.outputs,
            "tick_unit": info.tick_unit,
            "tick_hz": hz,
        },
        "model": {
            "hash": ref.model_hash,
            "tflite": str(ref.tflite),
            "macs": macs,
            "num_classes": c,
            "label_names": ref.label_names,
        },
        "samples": int(len(idx)),
        "sample_seed": seed,
        "reference_size": int(len(ref.x)),
        "exact_matches": int(exact.sum()),
        "exact_match_rate": float(exact.mean()),
        "max_abs_diff": int(np.max(np.abs(outs.astype(np.int16) - y_ref.astype(np.int16)))),
        "top1_agreement": float(np.mean(dev_pred == host_pred)),
        "device_accuracy": float(np.mean(dev_pred == labels)),
        "host_accuracy": float(np.mean(host_pred == labels)),
        "latency": lat,
        "lap_us": lap_rec,
        "arena_used": info.used,
        "arena_bytes": info.arena,
        "flash_bytes": flash,
        "ram_bytes": ram,
        "build": build_info or None,
        "macs": macs,
        "macs_per_tick": (macs / med_ticks) if macs and med_ticks else None,
        "confusion": confusion(labels, dev_pred, c),
        "per_sample": {
            "index": idx,
            "ticks": ticks,
            "device_pred": dev_pred,
            "host_pred": host_pred,
            "label": labels,
            "exact": exact,
        },
        "link": {
            "resyncs": stats.resyncs,
            "resets": stats.resets,
            "timeouts": stats.timeouts,
            "garbage_lines": stats.garbage_lines,
            "retried": retried,
        },
        "wall_s": round(wall, 2),
    }
    if emulated:
        ipt = 1e9 / hz
        rec["qemu"] = {
            "machine": board.qemu_machine,
            "icount_shift": 0,
            "instructions_per_tick": ipt,
            "instructions_per_inference": med_ticks * ipt,
            "macs_per_instruction": (macs / (med_ticks * ipt)) if macs and med_ticks else None,
        }
    rec["instructions_per_inference"] = (
        rec["qemu"]["instructions_per_inference"] if emulated else None
    )
    if "profile" in per_op:
        ops, totals = per_op["profile"]
        rec["profile"] = {
            "sample": int(idx[0]),
            **layers.profile_record(ops, totals, per_op["info"], (1e9 / hz) if emulated else None),
        }
    if "diff" in per_op:
        rec["diff"] = {"sample": int(idx[0]), **per_op["diff"]}
    from .report import summary, write_bench

    rec["summary"] = summary(rec)
    if write:
        rec["files"] = write_bench(run, bench_name or board.name, rec)
    return rec


def _bench_plain(
    s: _Session,
    run: runs.Run,
    board: Board,
    ref: Reference,
    idx: np.ndarray,
    where: str,
    emulated: bool,
    *,
    warmup: int,
    progress: bool,
    latency_samples: int,
    latency_n: int,
    seed: int,
    write: bool,
    on_sample: Callable[[int], None] | None,
    t_start: float,
    bench_name: str | None = None,
) -> dict[str, Any]:
    """Bench a device that speaks only EEMBC's commands (name, profile, db, infer, results).

    Its outputs come as m-results (dequantized, rounded floats), so accuracy and agreement with
    the host are measured, but byte-exactness cannot be checked; latency is m-lap-us (µs)."""
    n = len(idx)
    res = np.zeros((n, ref.y.shape[1]), dtype=np.float64)
    us = np.zeros(n, dtype=np.float64)
    for j in progress_bar(range(n), f"bench {board.name} (plain EEMBC)", progress):
        if on_sample is not None:
            on_sample(j)
        x = ref.x[idx[j]]
        r, us[j] = s.retry(f"sample {int(idx[j])}", lambda x=x: s.plain_run(x))
        res[j] = r
    laps = []
    for j in range(min(latency_samples, n)):
        x = ref.x[idx[j]]
        r, per = s.retry(
            f"infer {latency_n} {warmup} on sample {int(idx[j])}",
            lambda x=x: s.plain_run(x, latency_n, warmup),
        )
        laps.append(
            {
                "sample": int(idx[j]),
                "n": latency_n,
                "warmup": warmup,
                "us_per_inference": per,
                "ticks_per_inference": None,
                "output_matches_ek_run": None,
            }
        )
    stats = s.link.stats
    labels, c = ref.labels[idx], ref.y.shape[1]
    dev_pred, host_pred = res.argmax(1), ref.y[idx].argmax(1)
    why = (
        "the device speaks plain EEMBC (no ek- commands): it reports dequantized, rounded "
        "m-results, not raw int8 outputs, so exactness against the host reference could not "
        "be checked"
    )
    model_note = (
        f"the device names its model {s.model_unchecked!r} instead of a model hash, so "
        "which model it runs could not be checked (only its number of outputs)"
    )
    lat = _latency(
        us,
        1_000_000,
        "m-lap-us",
        "m-lap-us from `infer 1 0` per sample, the device's own microseconds"
        + ("; under QEMU -icount shift=0 these are virtual time" if emulated else ""),
    )
    macs = ref.export.get("macs")
    rec: dict[str, Any] = {
        "stage": "bench",
        "board": board.name,
        "where": where,
        "emulated": emulated,
        "mode": "eembc",
        "run": str(run.root),
        "protocol": "eembc",
        "device": {
            "name": s.name,
            "profile": s.profile,
            "runtime": "unknown (plain EEMBC)",
            "model_hash": None,
            "model": s.model_unchecked,
            "arena_bytes": None,
            "arena_used": None,
            "inputs": s.n_in,
            "outputs": s.n_out,
            "tick_unit": "m-lap-us",
            "tick_hz": 1_000_000,
        },
        "model": {
            "hash": ref.model_hash,
            "tflite": str(ref.tflite),
            "macs": macs,
            "num_classes": c,
            "label_names": ref.label_names,
        },
        "samples": int(n),
        "sample_seed": seed,
        "reference_size": int(len(ref.x)),
        "exact_checked": False,
        "exact_unchecked_reason": why,
        "model_unchecked_reason": model_note,
        "exact_matches": None,
        "exact_match_rate": None,
        "max_abs_diff": None,
        "top1_agreement": float(np.mean(dev_pred == host_pred)),
        "device_accuracy": float(np.mean(dev_pred == labels)),
        "host_accuracy": float(np.mean(host_pred == labels)),
        "latency": lat,
        "lap_us": laps,
        "arena_used": None,
        "arena_bytes": None,
        "flash_bytes": None,
        "ram_bytes": None,
        "build": None,
        "macs": macs,
        "macs_per_tick": None,
        "confusion": confusion(labels, dev_pred, c),
        "per_sample": {
            "index": idx,
            "ticks": us,
            "device_pred": dev_pred,
            "host_pred": host_pred,
            "label": labels,
            "results": res,
        },
        "link": {
            "resyncs": stats.resyncs,
            "resets": stats.resets,
            "timeouts": stats.timeouts,
            "garbage_lines": stats.garbage_lines,
            "retried": s.retried,
        },
        "wall_s": round(time.monotonic() - t_start, 2),
    }
    from .report import summary, write_bench

    rec["summary"] = summary(rec)
    if write:
        rec["files"] = write_bench(run, bench_name or board.name, rec)
    return rec


def _per_op(s: _Session, ref: Reference, sample: int, profile: bool, diff: bool) -> dict[str, Any]:
    """ek-profile and/or ek-layer on one sample; the device must step its ops one at a time."""
    from ..export.tflite import inspect_tflite

    model = Path(ref.tflite).read_bytes()
    info = inspect_tflite(model, str(ref.tflite))
    x = ref.x[sample]
    out: dict[str, Any] = {"info": info}
    try:
        if profile:
            out["profile"] = s.ek_profile(x)
        if diff:
            dev = s.ek_layers(x, len(info.ops))
            out["diff"] = layers.compare_layers(
                dev, layers.host_layer_outputs(model, info, x), info
            )
    except DeviceError as e:
        raise EdgekitError(
            f"--{'profile' if profile else 'diff'}: the device answered '{e.device_message}'"
        ) from None
    return out
