"""Static rules bandit cannot state precisely, read from the syntax tree of our code (and our templates).

1. `csrf_exempt` only in the gateway API (machines with bearer tokens; everything a browser reaches keeps CSRF).
2. No `==`/`!=` on secrets (tokens, digests, signatures, passwords): `hmac.compare_digest`, so timing leaks nothing.
3. No SQL built by string formatting, but for the baseline below: each entry names the function and says why what
   it interpolates is ours (table and column names from models and constants, placeholders, our own datetimes).
4. No `mark_safe` of anything but a literal, and no `|safe` or `{% autoescape off %}` outside plain-text emails.

Each rule is also run on a planted violation, so the test is known to fail when a violation appears.
`make lint` runs bandit (pyproject.toml `[tool.bandit]`) for the rest.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("foundation", "portal", "keys", "analytics", "gateway_sync", "config", "gateway")
CSRF_EXEMPT_ALLOWED = ("gateway_sync/api/",)
SECRET_WORDS = {"secret", "secrets", "token", "tokens", "digest", "password", "passwd", "signature", "hmac",
                "checksum", "otp", "mac", "key", "keys"}  # fmt: skip
SQL_SINKS = {"execute", "executemany", "raw", "extra", "copy", "mogrify", "RawSQL"}
# (module, function) -> (formatted SQL calls allowed, why nothing in them comes from input)
SQL_BASELINE = {
    ("analytics/services/events.py", "events_write"): (
        2,
        "table name from the model, column constants, %s placeholders",
    ),
    ("analytics/services/ingest.py", "_claim"): (1, "table name from the model, a run of constant %s placeholders"),
    ("analytics/services/ingest.py", "batches_ingest"): (1, "table name from the model"),
    ("analytics/services/ingest.py", "_write_last_used"): (
        3,
        "table name from the model; module constant KEY_LAST_USED",
    ),
    ("analytics/services/ingest.py", "_write_quota_usage"): (2, "table name from the model; constant QUOTA_UPSERT"),
    ("analytics/services/rollups.py", "rollups_write"): (3, "staging table and column constants"),
    ("analytics/selectors/page.py", "_grouped"): (
        1,
        "table name from the model; column names from module constants (scope keys picked from a fixed list); "
        "values as %s placeholders",
    ),
    ("analytics/services/storage.py", "partition_create"): (5, "partition names and range bounds from our own dates"),
    ("analytics/services/storage.py", "partitions_maintain"): (2, "partition names from our own dates"),
}
PLAIN_TEXT_TEMPLATES = re.compile(r"/email/[^/]+\.txt$")


def _python_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        files += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return sorted(files)


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


# --------------------------------------------------------------------------- the rules


def csrf_exemptions(tree: ast.AST) -> list[int]:
    """Lines that name csrf_exempt (as a decorator, a call or an import)."""
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "csrf_exempt"]
    lines += [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "csrf_exempt"]
    lines += [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and any(alias.name == "csrf_exempt" for alias in n.names)
    ]
    return sorted(lines)


def _identifier(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        key = node.slice
        return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else _identifier(node.value)
    if isinstance(node, ast.Call):
        return _identifier(node.func)
    return None


def secret_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing something named like a secret with == or != (constants in CAPITALS are not secrets)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            for side in (node.left, *node.comparators):
                name = _identifier(side)
                if name and not name.isupper() and set(name.lower().split("_")) & SECRET_WORDS:
                    found.append(node.lineno)
    return found


def _formatted(node: ast.AST, assigned: dict[str, ast.AST]) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(value, ast.FormattedValue) for value in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return True
    return isinstance(node, ast.Name) and node.id in assigned and _formatted(assigned[node.id], {})


def _assignments(nodes: list[ast.AST]) -> dict[str, ast.AST]:
    return {
        target.id: node.value
        for node in nodes
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def formatted_sql(tree: ast.Module) -> Counter[str]:
    """Calls of SQL sinks whose query is formatted (directly or through a variable), counted per function."""
    module_level = _assignments(list(tree.body))
    found: Counter[str] = Counter()
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    scopes: list[tuple[str, list[ast.AST]]] = [
        ("<module>", [n for s in tree.body if not isinstance(s, ast.FunctionDef | ast.ClassDef) for n in ast.walk(s)])
    ]
    scopes += [(f.name, list(ast.walk(f))) for f in functions]
    for name, nodes in scopes:
        assigned = module_level | _assignments(nodes)
        for node in nodes:
            if isinstance(node, ast.Call) and _called_name(node) in SQL_SINKS and node.args:
                if _formatted(node.args[0], assigned):
                    found[name] += 1
    return found


def unsafe_marks(tree: ast.AST) -> list[int]:
    """mark_safe / SafeString of anything but a string literal."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _called_name(node) in ("mark_safe", "SafeString")
        and not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
    ]


def unescaped_template_output(text: str) -> bool:
    return bool(re.search(r"\|\s*safe\b|\|\s*safeseq\b|{%\s*autoescape\s+off\s*%}", text))


# --------------------------------------------------------------------------- our code keeps them


def test_csrf_exempt_appears_only_in_the_gateway_api() -> None:
    offenders = []
    for path in _python_files():
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith(CSRF_EXEMPT_ALLOWED):
            offenders += [f"{relative}:{line}" for line in csrf_exemptions(ast.parse(path.read_text()))]
    assert offenders == []


def test_no_secret_is_compared_with_equality() -> None:
    offenders = []
    for path in _python_files():
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n in secret_comparisons(ast.parse(path.read_text()))]
    assert offenders == []


def test_sql_is_formatted_only_where_the_baseline_says_why() -> None:
    found = {}
    for path in _python_files():
        for function, count in formatted_sql(ast.parse(path.read_text())).items():
            found[(path.relative_to(ROOT).as_posix(), function)] = count
    assert found == {place: count for place, (count, _why) in SQL_BASELINE.items()}


def test_mark_safe_takes_only_literals_and_templates_escape_everything_but_emails() -> None:
    offenders = []
    for path in _python_files():
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n in unsafe_marks(ast.parse(path.read_text()))]
    for template in ROOT.glob("**/templates/**/*"):
        relative = template.relative_to(ROOT).as_posix()
        if template.is_file() and not relative.startswith(".venv") and not PLAIN_TEXT_TEMPLATES.search(relative):
            if unescaped_template_output(template.read_text(errors="replace")):
                offenders.append(relative)
    assert offenders == []


# --------------------------------------------------------------------------- each rule catches a planted violation

PLANTED_CSRF = """
from django.views.decorators.csrf import csrf_exempt

@csrf_exempt
def webhook(request):
    return None
"""
PLANTED_SECRETS = [
    "if token.digest == hashlib.sha256(raw).hexdigest():\n    ok = True",
    "valid = request.headers['X-Signature'] != expected_signature",
    "same = client_secret == form.cleaned_data['secret']",
    "match = api_key == presented",
]
PLANTED_SQL = [
    "def f(cursor, name):\n    cursor.execute(f\"SELECT * FROM t WHERE name = '{name}'\")",
    "def f(cursor, name):\n    cursor.execute(\"SELECT * FROM t WHERE name = '%s'\" % name)",
    "def f(cursor, name):\n    sql = \"SELECT * FROM t WHERE name = '{}'\".format(name)\n    cursor.execute(sql)",
    "def f(qs, name):\n    return qs.raw('SELECT * FROM t WHERE name = ' + name)",
    "def f(qs, name):\n    return qs.annotate(x=RawSQL(f'SELECT {name}', []))",
]
PLANTED_MARKS = ["html = mark_safe(f'<b>{application.name}</b>')", "html = mark_safe(user_text)"]


def test_the_csrf_rule_catches_a_planted_exemption() -> None:
    assert csrf_exemptions(ast.parse(PLANTED_CSRF)) == [2, 4]


@pytest.mark.parametrize("code", PLANTED_SECRETS)
def test_the_secret_rule_catches_a_planted_comparison(code) -> None:
    assert secret_comparisons(ast.parse(code)) != []


def test_the_secret_rule_leaves_constant_time_comparisons_and_enums_alone() -> None:
    fine = "ok = hmac.compare_digest(token.digest, candidate)\nis_key = self.kind == self.Kind.KEY"
    assert secret_comparisons(ast.parse(fine)) == []


@pytest.mark.parametrize("code", PLANTED_SQL)
def test_the_sql_rule_catches_planted_formatting(code) -> None:
    assert sum(formatted_sql(ast.parse(code)).values()) == 1


def test_the_sql_rule_leaves_bound_parameters_alone() -> None:
    fine = "def f(cursor, name):\n    cursor.execute('SELECT * FROM t WHERE name = %s', [name])"
    assert formatted_sql(ast.parse(fine)) == Counter()


@pytest.mark.parametrize("code", PLANTED_MARKS)
def test_the_mark_safe_rule_catches_planted_user_data(code) -> None:
    assert unsafe_marks(ast.parse(code)) == [1]
    assert unsafe_marks(ast.parse("html = mark_safe('aria-current=\"page\"')")) == []


@pytest.mark.parametrize("text", ["{{ application.name|safe }}", "{% autoescape off %}{{ x }}{% endautoescape %}"])
def test_the_template_rule_catches_planted_unescaped_output(text) -> None:
    assert unescaped_template_output(text)
    assert not unescaped_template_output("{{ application.name }}")
