"""SQL is parameterised everywhere: no ``execute``/``executescript``/``executemany`` call in ``bot/`` or
``inference/`` builds its SQL text from values at run time.

The SQL argument of every such call is inspected with :mod:`ast`. String literals, names and
attributes are fine (values travel as ``?`` parameters). An f-string, ``%`` formatting, ``.format()``,
``+`` concatenation or ``.join()`` is allowed only when every interpolated part is a module-level
constant (an UPPER_CASE or ``_UPPER_CASE`` name, or an expression over such names and literals) or the
call is listed in :data:`ALLOWED` with the reason it is safe. A new dynamic SQL string fails this test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("bot", "inference")
SQL_METHODS = {"execute", "executescript", "executemany"}

#: (file, enclosing function, interpolated expression) of the known dynamic-but-safe SQL strings.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("bot/core/species.py", "members", "column"):
        "a column name picked from a fixed literal mapping by the taxon's rank",
    ("bot/species_db/build.py", "build", "placeholders"):
        "one '?' per entry of the COLUMNS constant",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    function: str
    expr: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): SQL built from `{self.expr}`"


def _is_constant_name(name: str) -> bool:
    core = name.lstrip("_")
    return bool(core) and core.upper() == core and any(c.isalpha() for c in core)


def _constant_expr(node: ast.AST) -> bool:
    """True for literals, UPPER_CASE module constants and expressions built only from them
    (e.g. ``", ".join(COLUMNS)``)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and not _is_constant_name(sub.id):
            return False
        if isinstance(sub, ast.Call):
            func = sub.func
            if not (isinstance(func, ast.Attribute) and func.attr == "join"):
                return False
    return True


def _dynamic_parts(node: ast.AST) -> list[ast.AST]:
    """The interpolated sub-expressions of a SQL argument (empty for a plain literal or a name)."""
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        parts = []
        for side in (node.left, node.right):
            if isinstance(side, ast.Constant):
                continue
            parts.extend(_dynamic_parts(side) if isinstance(side, (ast.JoinedStr, ast.BinOp)) else [side])
        return parts
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
        "format", "join"
    ):
        return [node.func.value, *node.args, *(k.value for k in node.keywords)]
    return []


def scan_source(source: str, path: str) -> list[Finding]:
    """Every dynamic SQL argument in ``source`` that is neither constant-only nor in :data:`ALLOWED`."""
    tree = ast.parse(source)
    findings: list[Finding] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and child.func.attr in SQL_METHODS and child.args):
                for part in _dynamic_parts(child.args[0]):
                    if _constant_expr(part):
                        continue
                    expr = ast.unparse(part)
                    if (path, function, expr) not in ALLOWED:
                        findings.append(Finding(path, child.lineno, function, expr))
            visit(child, name)

    visit(tree, "<module>")
    return findings


def test_no_sql_is_built_from_runtime_values() -> None:
    findings: list[Finding] = []
    seen_allowed: set[tuple[str, str, str]] = set()
    for folder in SCANNED:
        for file in sorted((REPO / folder).rglob("*.py")):
            rel = file.relative_to(REPO).as_posix()
            source = file.read_text(encoding="utf-8")
            findings += scan_source(source, rel)
            for key in ALLOWED:
                if key[0] == rel:
                    seen_allowed.add(key)
    assert not findings, "SQL must use ? parameters:\n" + "\n".join(map(str, findings))
    assert seen_allowed == set(ALLOWED), "stale ALLOWED entries: remove them"


def test_the_scanner_catches_dynamic_sql() -> None:
    bad = '''
def f(db, name, n):
    db.execute(f"SELECT * FROM t WHERE name = '{name}'")
    db.execute("SELECT * FROM t WHERE n = %d" % n)
    db.execute("SELECT * FROM t WHERE name = '{}'".format(name))
    db.executescript("DELETE FROM t WHERE name = '" + name + "'")
    db.executemany(f"INSERT INTO {name} VALUES (?)", [(1,)])
'''
    found = scan_source(bad, "x.py")
    assert [f.line for f in found] == [3, 4, 5, 6, 7]
    good = '''
COLUMNS = ("a", "b")
_COLS = "a, b"
def g(db, name, sql):
    db.execute("SELECT * FROM t WHERE name = ?", (name,))
    db.execute(f"SELECT {', '.join(COLUMNS)} FROM t")
    db.execute(f"SELECT {_COLS} FROM t WHERE x = ?", (name,))
    db.execute(sql)
'''
    assert scan_source(good, "y.py") == []
