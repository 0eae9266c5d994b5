"""Package layering (DESIGN.md): every module imports, lower layers never import higher ones, and no
two modules import each other, directly or around a loop.

Imports are read from the source with ``ast``, function-local imports included: a lazy import of a
higher layer is still a dependency on it.
"""

import ast
import importlib
from pathlib import Path

import pytest

import kaldi_mpq

ROOT = Path(kaldi_mpq.__file__).parent

# Low to high. A module may import a module of a lower layer or of its own group; the group of a module
# is the longest dotted prefix listed here. Every module must belong to a group.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"base": ("kaldi_mpq", "kaldi_mpq.errors", "kaldi_mpq.fileio", "kaldi_mpq.kaldi_io", "kaldi_mpq.parallel",
              "kaldi_mpq.extras")},
    {"text": ("kaldi_mpq.text",)},
    {"lm": ("kaldi_mpq.lm",), "lattice": ("kaldi_mpq.lattice",)},
    {"quant": ("kaldi_mpq.quant",), "ngram": ("kaldi_mpq.ngram",)},
    {"LM loading": ("kaldi_mpq.lm_loading",)},  # any LM dir, float (lm) or packed (quant), or an n-gram file
    {"rescoring core": ("kaldi_mpq.rescoring.core", "kaldi_mpq.rescoring.decode_dir")},  # below both rescorers
    {"nbest": ("kaldi_mpq.nbest",),
     "lattice rescoring": ("kaldi_mpq.rescoring.lattice_rescore", "kaldi_mpq.rescoring.rescore_dir")},
    {"scoring": ("kaldi_mpq.scoring",)},
    {"report": ("kaldi_mpq.report",)},  # tables of whole experiments: quant reports + scored decode dirs
    {"testing": ("kaldi_mpq.testing",)},
    {"commands": ("kaldi_mpq.bin", "kaldi_mpq.cli", "kaldi_mpq.__main__")},
]

# Known breaks of the rules above, each with the change that removes it. An entry that no longer
# occurs fails the test, so the list shrinks as they are fixed.
KNOWN_LAYER_BREAKS: dict = {}
KNOWN_CYCLES: dict = {}


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(ROOT.rglob("*.py")):
        parts = ("kaldi_mpq",) + f.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The kaldi_mpq modules ``path`` imports (``from pkg import mod`` counts as importing ``pkg.mod``);
    imports under ``if TYPE_CHECKING:`` are for annotations and do not count."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                 for stmt in block.body for n in ast.walk(stmt)}  # annotations only: no run-time import
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n for n in names if n in MODULES)
    return found


GRAPH = {m: _imports(f) - {m} for m, f in MODULES.items()}


def _place(module: str) -> tuple[int, str]:
    """``(layer index, group name)`` of a module: its longest listed prefix."""
    best = None
    for i, layer in enumerate(LAYERS):
        for group, prefixes in layer.items():
            for p in prefixes:
                if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[0]):
                    best = (len(p), i, group)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1], best[2]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "kaldi_mpq.__main__"))  # that one runs the CLI
def test_every_module_imports(module):
    importlib.import_module(module)


def test_lower_layers_never_import_higher_ones():
    breaks = set()
    for src, targets in GRAPH.items():
        (si, sg) = _place(src)
        for dst in targets:
            (di, dg) = _place(dst)
            if dg != sg and di >= si:
                breaks.add((src, dst))
    new = {b: f"{_place(b[0])[1]} -> {_place(b[1])[1]}" for b in breaks - set(KNOWN_LAYER_BREAKS)}
    assert not new, f"imports against the layering: {new}"
    fixed = set(KNOWN_LAYER_BREAKS) - breaks
    assert not fixed, f"fixed, remove from KNOWN_LAYER_BREAKS: {fixed}"


def _cycles() -> list[frozenset]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(GRAPH[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_no_import_cycles():
    cycles = set(_cycles())
    new = [sorted(c) for c in cycles - set(KNOWN_CYCLES)]
    assert not new, f"import cycles: {new}"
    fixed = set(KNOWN_CYCLES) - cycles
    assert not fixed, f"fixed, remove from KNOWN_CYCLES: {[sorted(c) for c in fixed]}"


def test_the_checks_see_a_cycle_and_a_layer_break():
    """The graph reading and the cycle search find what they are meant to (on a made-up graph)."""
    saved = dict(GRAPH)
    try:
        GRAPH["kaldi_mpq.text.symbols"] = GRAPH["kaldi_mpq.text.symbols"] | {"kaldi_mpq.lm.checkpoint"}
        GRAPH["kaldi_mpq.lm.checkpoint"] = GRAPH["kaldi_mpq.lm.checkpoint"] | {"kaldi_mpq.text.symbols"}
        assert any({"kaldi_mpq.text.symbols", "kaldi_mpq.lm.checkpoint"} <= c for c in _cycles())
        with pytest.raises(AssertionError, match="text -> lm"):
            test_lower_layers_never_import_higher_ones()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
    assert "kaldi_mpq.lm.checkpoint" in GRAPH["kaldi_mpq.lm_loading"]
