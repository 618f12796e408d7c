"""Every timeout of the bench and stream links in one place, each with why it is what it is.

The five board timeouts are defaults: a board TOML's [timeouts] (and [qemu] boot_s) overrides them
(boards/README.md); for_board() gives the values a board runs with. The others are host-side
limits that do not depend on the board.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board

# ---------------------------------------------------------------- board defaults ([timeouts])

# On --port: a board has usually booted long ago (its banner is gone) or resets when the port opens
# (DTR) and prints it within a second or so; sync() then covers a slower boot.
BOOT_S = 1.5
# QEMU holds the guest until the harness connects, so the banner always comes; 20 s covers start-up
# of the emulator and the firmware's model init on a loaded 2-core machine.
QEMU_BOOT_S = 20.0
# Commands that run no inference (name, profile, ek-info, db chunks) answer in milliseconds; 10 s
# leaves room for a slow USB-serial adapter and a busy host.
COMMAND_S = 10.0
# A command that runs an inference, until one has been timed: a large model on a slow core or under
# QEMU on a busy host can take seconds; afterwards the limit follows the measured time (HANG_FACTOR).
FIRST_INFERENCE_S = 30.0
# After an unexpected reset the board boots again (an OS such as NuttX, USB CDC enumeration) and
# re-initialises its model before m-ready: 15 s leaves room for both.
REBOOT_S = 15.0

# ---------------------------------------------------------------- inference commands

# Once one inference has been timed, a command is declared hung after HANG_FACTOR times the
# measured inference, never less than MIN_COMMAND_S: far above jitter, far below "forever".
HANG_FACTOR = 20.0
MIN_COMMAND_S = 5.0
# On top of the inference time for commands that also move data (infer N W replies, ek-layer
# chunks: a few KB at 115200 baud).
TRANSFER_SLACK_S = 5.0
# ek-profile runs one inference whole, then op by op, and prints a line per op: three inferences'
# time plus the printing of ~100 lines.
PROFILE_INFERENCES = 3
PROFILE_SLACK_S = 10.0

# ---------------------------------------------------------------- the serial line (link.py)

# pyserial's read timeout: the slice our own deadlines are checked in (short, so they are exact).
READ_SLICE_S = 0.05
# drain(): input is stale once the line has been quiet for DRAIN_QUIET_S (several lines' time at
# 115200 baud); a device that never stops talking is cut off after DRAIN_LIMIT_S.
DRAIN_QUIET_S = 0.1
DRAIN_LIMIT_S = 2.0
# After the '%' of sync(): a second m-ready comes at once if '%' ended two fragments.
SYNC_SETTLE_QUIET_S = 0.05
SYNC_SETTLE_LIMIT_S = 0.5

# ---------------------------------------------------------------- QEMU (qemu.py)

# QEMU opens its listening socket within a second; 15 s covers a loaded machine.
QEMU_START_S = 15.0
# How often to look for QEMU's listening socket in /proc/net/tcp (cheap, keeps start-up quick);
# without /proc, one pause of QEMU_NO_PROC_WAIT_S instead.
QEMU_LISTEN_POLL_S = 0.05
QEMU_NO_PROC_WAIT_S = 0.5
# QEMU exits at once on SIGTERM; one that does not within this is killed.
QEMU_STOP_S = 3.0

# ---------------------------------------------------------------- streaming (stream.py)

# A block's reply (its hops' decisions) may take BLOCK_FACTOR times the block's own duration
# (4 minutes per second of signal: only a hung board is slower), never less than BLOCK_MIN_S.
BLOCK_MIN_S = 60.0
BLOCK_FACTOR = 240.0


@dataclass(frozen=True)
class BoardTimeouts:
    """The five board timeouts with the board's overrides applied."""

    boot_s: float = BOOT_S
    qemu_boot_s: float = QEMU_BOOT_S
    command_s: float = COMMAND_S
    first_inference_s: float = FIRST_INFERENCE_S
    reboot_s: float = REBOOT_S


def for_board(board: Board) -> BoardTimeouts:
    """The board TOML's values where it gives them, the defaults above elsewhere."""
    t = board.timeouts
    return BoardTimeouts(
        boot_s=t.boot_s or BOOT_S,
        qemu_boot_s=t.qemu_boot_s or QEMU_BOOT_S,
        command_s=t.command_s or COMMAND_S,
        first_inference_s=t.first_inference_s or FIRST_INFERENCE_S,
        reboot_s=t.reboot_s or REBOOT_S,
    )


def boot_timeout(board: Board, emulated: bool) -> float:
    """How long to wait for the firmware's first m-ready: QEMU holds the guest until we connect,
    so its banner comes; a real board may have booted long ago or reset on open."""
    t = for_board(board)
    return t.qemu_boot_s if emulated else t.boot_s


def command_timeout(measured_s: float) -> float:
    """The limit for an inference command once one inference took measured_s."""
    return max(MIN_COMMAND_S, HANG_FACTOR * measured_s)


def block_timeout(block_s: float) -> float:
    """The limit for one ek-sblk block of block_s seconds of signal."""
    return max(BLOCK_MIN_S, BLOCK_FACTOR * block_s)
