"""The stages import in one direction: data -> nn -> train -> quantize -> export -> firmware -> bench.

Read from the source with ast (every import, including the ones inside functions), so nothing is
imported to check it. Rules:
  1. No module imports a later stage (consumers at the end may import anything).
  2. Pipeline stages (train .. bench) do not import each other: a later stage reads the earlier
     one's artifacts (artifacts.py, checkpoint.py) or shared modules, except for the few library
     modules listed in STAGE_LIBRARIES.
  3. Shared modules import only shared modules; the artifact loaders also data/ and nn/ (the
     grid and the architecture a record describes), so data/ and nn/ cannot import them.
  4. No module imports a private name (leading underscore) or private module of another package.
  5. No import cycles among edgekit modules, counting the imports inside functions as edges too
     (an import moved into a function hides a cycle from Python, not from the design). A module
     importing its package's __init__ is an edge; the implicit parent-package import is not.
A module that is in no list fails the test: say where a new module belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "toolchain"

SHARED = {
    "edgekit",
    "edgekit.errors",
    "edgekit.runs",
    "edgekit.progress",
    "edgekit.seeding",
    "edgekit.boards",
    "edgekit.assets",
    "edgekit.quantspec",
    "edgekit.metrics",
}
ARTIFACTS = {"edgekit.artifacts", "edgekit.checkpoint"}
STAGES = [
    ("data", ["edgekit.data"]),
    ("nn", ["edgekit.nn"]),
    ("train", ["edgekit.train", "edgekit.ingest"]),
    ("quantize", ["edgekit.quantize"]),
    ("export", ["edgekit.export"]),
    ("firmware", ["edgekit.firmware", "edgekit.flash"]),  # flash: writes the built image
    ("bench", ["edgekit.bench"]),
    (
        "consumer",
        [
            "edgekit.robust",
            "edgekit.sweep",
            "edgekit.sweep_report",
            "edgekit.demo",
            "edgekit.calibrate",  # reads a run and its export, writes a calibrated run
            "edgekit.cli",
        ],
    ),
]
PIPELINE = ("train", "quantize", "export", "firmware", "bench")
# later stage -> modules of an earlier pipeline stage it may use as a library, and why
STAGE_LIBRARIES = {
    "bench": {
        "edgekit.export.tflite",  # the .tflite flatbuffer reader (ops, tensors)
        "edgekit.export.reference",  # the host tflite_micro reference the device must match
        "edgekit.export.head",  # the head the device solves, mirrored (stream --calibrate)
        "edgekit.firmware",
    },  # `edgekit bench` builds the firmware it flashes
}
RANK = {name: i for i, (name, _) in enumerate(STAGES)}
ARTIFACT_RANK = RANK["nn"] + 0.5  # after what they describe, before every pipeline stage


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(mod: str) -> str | None:
    if mod in SHARED:
        return "shared"
    if mod in ARTIFACTS:
        return "artifacts"
    for name, prefixes in STAGES:
        if any(mod == p or mod.startswith(p + ".") for p in prefixes):
            return name
    return None


def rank(stage: str) -> float:
    return {"shared": -1.0, "artifacts": ARTIFACT_RANK}.get(stage, RANK.get(stage, -2.0))


def imports(path: Path, mod: str, modules: set[str]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) of every edgekit import in the file."""
    is_pkg = path.name == "__init__.py"
    package = mod if is_pkg else mod.rpartition(".")[0]
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [
                (a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "edgekit"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "edgekit":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in modules:  # `from . import runs`: the module itself
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, a.name, node.lineno))
    return out


def violations(root: Path) -> list[str]:
    files = {module_name(p, root): p for p in sorted((root / "edgekit").rglob("*.py"))}
    modules = set(files)
    bad = []
    for mod, path in files.items():
        st = stage_of(mod)
        if st is None:
            bad.append(f"{mod}: in no stage list of {__file__}; add it where it belongs")
            continue
        for target, name, line in imports(path, mod, modules):
            where = f"{path.relative_to(root)}:{line}: {mod} imports {target}" + (
                f".{name}" if name else ""
            )
            tst = stage_of(target)
            if tst is None:
                continue  # reported as unclassified above
            if st == "shared" and tst != "shared":
                bad.append(f"{where}: a shared module imports only shared modules")
            elif st == "artifacts" and tst not in ("shared", "artifacts", "data", "nn"):
                bad.append(f"{where}: an artifact loader imports only shared modules, data and nn")
            elif rank(tst) > rank(st):
                bad.append(f"{where}: {st} comes before {tst}")
            elif (
                st in PIPELINE
                and tst in PIPELINE
                and tst != st
                and target not in STAGE_LIBRARIES.get(st, set())
            ):
                bad.append(f"{where}: {st} reads {tst}'s artifacts, not its modules")
            own_pkg = mod.split(".")[:2] == target.split(".")[:2]
            private = [
                p
                for p in target.split(".")[1:] + ([name] if name else [])
                if p.startswith("_") and not p.startswith("__")
            ]
            if private and not own_pkg:
                bad.append(f"{where}: private name {private[0]} of another package")
    return bad


def import_graph(root: Path) -> dict[str, dict[str, str]]:
    """module -> {imported edgekit module: "file:line" of the first such import}."""
    files = {module_name(p, root): p for p in sorted((root / "edgekit").rglob("*.py"))}
    graph: dict[str, dict[str, str]] = {mod: {} for mod in files}
    for mod, path in files.items():
        for target, _name, line in imports(path, mod, set(files)):
            if target in files and target != mod:
                graph[mod].setdefault(target, f"{path.relative_to(root)}:{line}")
    return graph


def strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (each one holds at least one cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def shortest_path(
    graph: dict[str, dict[str, str]], src: str, dst: str, within: set[str]
) -> list[str]:
    """src -> ... -> dst with the fewest edges, through modules of `within` (breadth first)."""
    parent = {src: src}
    frontier = [src]
    while frontier and dst not in parent:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w in within and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    path = [dst]
    while path[-1] != src:
        path.append(parent[path[-1]])
    return path[::-1]


def cycles(root: Path) -> list[str]:
    """The import cycles, one per import edge that closes one (the shortest cycle through that
    edge; a cycle found from several of its edges is listed once), each edge with the file:line
    of its import. Every edge inside a group of mutually importing modules is on some listed
    cycle, so the list says every import that has to go or move."""
    graph = import_graph(root)
    seen: set[frozenset[tuple[str, str]]] = set()
    bad = []
    for comp in strongly_connected(graph):
        for a in comp:
            for b in sorted(set(graph[a]) & set(comp)):
                loop = [a, *shortest_path(graph, b, a, set(comp))]
                first = loop.index(min(loop[:-1]))  # start the listing at its first module
                loop = loop[first:-1] + loop[: first + 1]
                edges = list(zip(loop, loop[1:], strict=False))
                if frozenset(edges) not in seen:
                    seen.add(frozenset(edges))
                    steps = " -> ".join(f"{y} ({graph[x][y]})" for x, y in edges)
                    bad.append(f"import cycle: {loop[0]} -> {steps}")
    return bad


def test_stage_imports_go_one_way() -> None:
    bad = violations(ROOT)
    assert not bad, "import direction broken:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    bad = cycles(ROOT)
    assert not bad, "import cycles (in-function imports count):\n" + "\n".join(bad)


def test_the_cycle_check_finds_hidden_cycles_only(tmp_path: Path) -> None:
    """On a made-up tree: a cycle hidden by an in-function import, one through a package's
    __init__, one of three modules; a package importing its own submodules is not one."""
    files = {
        "edgekit/__init__.py": "",
        "edgekit/data/__init__.py": "from . import csl\nfrom .recording import Recording\n",
        "edgekit/data/recording.py": "def load():\n    from .csl import load_csl\n",  # lazy
        "edgekit/data/csl.py": "from .recording import Recording\n",
        "edgekit/data/synth.py": "from . import Recording\n",  # imports its package: no cycle
        "edgekit/nn/__init__.py": "from .registry import ARCHS\n",
        "edgekit/nn/registry.py": "from . import mobilenetv2\n",
        "edgekit/nn/mobilenetv2.py": "from ..nn import ARCHS\n",  # back into the package
        "edgekit/a.py": "import edgekit.b\n",
        "edgekit/b.py": "from edgekit import c\n",
        "edgekit/c.py": "def f():\n    from .a import x\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    bad = cycles(tmp_path)
    assert sorted(bad) == [
        "import cycle: edgekit.a -> edgekit.b (edgekit/a.py:1) -> edgekit.c (edgekit/b.py:1) "
        "-> edgekit.a (edgekit/c.py:2)",
        "import cycle: edgekit.data.csl -> edgekit.data.recording (edgekit/data/csl.py:1) "
        "-> edgekit.data.csl (edgekit/data/recording.py:2)",
        "import cycle: edgekit.nn -> edgekit.nn.registry (edgekit/nn/__init__.py:1) "
        "-> edgekit.nn.mobilenetv2 (edgekit/nn/registry.py:1) -> edgekit.nn "
        "(edgekit/nn/mobilenetv2.py:1)",
    ], bad


def test_the_check_finds_each_kind_of_violation(tmp_path: Path) -> None:
    """The checker itself, on a made-up tree with one violation of each rule."""
    files = {
        "edgekit/__init__.py": "",
        "edgekit/errors.py": "from .quantize import x\n",  # shared -> stage
        "edgekit/artifacts.py": "from .export import y\n",  # loader -> export
        "edgekit/data/__init__.py": "",
        "edgekit/data/causal.py": "def f():\n    from ..export.reference import q\n",  # lazy, later
        "edgekit/data/grids.py": "from ..artifacts import Frames\n",  # data -> loader
        "edgekit/nn/__init__.py": "",
        "edgekit/quantize.py": "from .nn import _private\n",  # private name
        "edgekit/export/__init__.py": "from .. import quantize\n",  # stage -> stage
        "edgekit/export/reference.py": "",
        "edgekit/bench/__init__.py": "from ..export import reference\n",  # allowed library
        "edgekit/newthing.py": "",  # unclassified
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    bad = "\n".join(violations(tmp_path))
    assert "edgekit.errors imports edgekit.quantize.x: a shared module" in bad
    assert "edgekit.artifacts imports edgekit.export.y: an artifact loader" in bad
    assert "edgekit.data.causal imports edgekit.export.reference.q: data comes before export" in bad
    assert "edgekit.data.grids imports edgekit.artifacts.Frames: data comes before artifacts" in bad
    assert "private name _private" in bad
    assert "edgekit.export imports edgekit.quantize: export reads quantize's artifacts" in bad
    assert "edgekit.newthing: in no stage list" in bad
    assert "edgekit.bench" not in bad
    assert len(bad.splitlines()) == 7
