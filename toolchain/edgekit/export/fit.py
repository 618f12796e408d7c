"""Does the model fit the board? Flash and RAM budget vs need, with what to do when it does not."""

from __future__ import annotations

from typing import Any

from ..boards import Board
from ..errors import EdgekitError


def fit_report(
    board: Board, model_bytes: int, arena_bytes: int, calib_bytes: int = 0
) -> dict[str, Any]:
    """Budget vs need. Boards with shared_code_ram run code from RAM: model, runtime code, arena and
    runtime data all count against the one RAM budget. calib_bytes: RAM for on-device calibration
    (export/head.py); the firmware has it only when the board has room left for it, and whether
    the model fits does not depend on it."""
    rep = _fit(board, model_bytes, arena_bytes)
    room = calib_bytes > 0 and _fit(board, model_bytes, arena_bytes + calib_bytes)["fits"]
    if room:
        rep = _fit(board, model_bytes, arena_bytes + calib_bytes)
        rep["arena_bytes"] = int(arena_bytes)
    rep["calibration"] = {"bytes": int(calib_bytes), "room": bool(room)}
    return rep


def _fit(board: Board, model_bytes: int, arena_bytes: int) -> dict[str, Any]:
    if board.shared_code_ram:
        # image = what the linker places (code, model, data, arena); the OS heap must stay free
        image = model_bytes + board.runtime_flash_bytes + arena_bytes + board.runtime_ram_bytes
        ram_need = image + board.heap_reserve_bytes
        flash_need = ram_need
    else:
        flash_need = model_bytes + board.runtime_flash_bytes
        ram_need = arena_bytes + board.runtime_ram_bytes
        image = flash_need
    return {
        "board": board.name,
        "shared_code_ram": board.shared_code_ram,
        "model_bytes": int(model_bytes),
        "arena_bytes": int(arena_bytes),
        "image_bytes_estimate": int(image),
        "heap_reserve_bytes": int(board.heap_reserve_bytes),
        "flash": {
            "budget": board.flash_bytes,
            "need": int(flash_need),
            "free": int(board.flash_bytes - flash_need),
            "ok": flash_need <= board.flash_bytes,
        },
        "ram": {
            "budget": board.ram_bytes,
            "need": int(ram_need),
            "free": int(board.ram_bytes - ram_need),
            "ok": ram_need <= board.ram_bytes,
        },
        "fits": flash_need <= board.flash_bytes and ram_need <= board.ram_bytes,
    }


def check_fit(
    board: Board, model_bytes: int, arena_bytes: int, calib_bytes: int = 0
) -> dict[str, Any]:
    """fit_report, raising EdgekitError with the numbers and what to do when it does not fit."""
    rep = fit_report(board, model_bytes, arena_bytes, calib_bytes)
    if rep["fits"]:
        return rep
    where = board.path or f"boards/{board.name}.toml"
    lines = [f"{where}: the model does not fit board {board.name!r}:"]
    if board.shared_code_ram:
        lines.append(
            f"  RAM (code, model and arena share it): need {rep['ram']['need']:,} B = model "
            f"{model_bytes:,} + runtime code {board.runtime_flash_bytes:,} + arena "
            f"{arena_bytes:,} + runtime data {board.runtime_ram_bytes:,}"
            + (
                f" + OS heap reserve {board.heap_reserve_bytes:,}"
                if board.heap_reserve_bytes
                else ""
            )
            + f"; budget ram_bytes = {board.ram_bytes:,} B"
        )
    else:
        lines.append(
            f"  flash: need {rep['flash']['need']:,} B = model {model_bytes:,} + runtime "
            f"{board.runtime_flash_bytes:,}; budget flash_bytes = {board.flash_bytes:,} B"
            + ("" if rep["flash"]["ok"] else "  <- too big")
        )
        lines.append(
            f"  RAM: need {rep['ram']['need']:,} B = arena {arena_bytes:,} + runtime "
            f"{board.runtime_ram_bytes:,}; budget ram_bytes = {board.ram_bytes:,} B"
            + ("" if rep["ram"]["ok"] else "  <- too big")
        )
    lines.append(
        "  what to do: train a smaller model (a lower --width, e.g. 0.2) or pick a board "
        "with more memory (--board; see boards/*.toml)"
    )
    hint = board.raw.get("fit", {}).get("hint")
    if hint:
        lines.append(f"  {hint}")
    raise EdgekitError("\n".join(lines))
