"""docs/troubleshooting.md lists every kind of message syndicate can show: a new error, warning,
skip reason, delivery failure or daemon log line without an entry there fails this test, with
the file and line that makes it and the text to add.

How the messages are found (``ast``, no import of the code): every place that makes one,
by what it calls or fills —

- the errors people see (``ConfigError(msg)``, ``ContentError(path, msg)`` and the rest of
  syndicate/errors.py), ``Failure(msg)`` (a delivery's last error, shown by `syndicate status`),
  ``Problem(path, msg)`` (a post's error, warning, note or skip reason), ``_Skip(msg)``, the
  scan's ``Scanned``/``Examined`` reasons, click's usage errors, the ``ValueError``s of the
  modules whose messages are shown (dates, addresses);
- the lists a command prints (``….warnings``, ``….checks``, ``….notes``), a skipped delivery's
  reason (``plan.skip[…] = msg``), the daemon's log lines (``log.event(kind, msg)``, but the
  routine kinds), the CLI's lines on stderr (``click.echo(…, err=True)``), ``fail(code, msg)``;
- and what flows into those: a message that is a parameter of the function around the call (a
  helper such as ``doc.fail(key, msg)``) is taken at each call of that helper; one that is a
  local variable, from what the function assigns to it; one that is a call of a function of
  the package, from what that function returns; a function named in ``MESSAGE_FUNCTIONS`` makes
  (a part of) a message wherever it is called, so its returns are messages too.

A message's *template* is its literal text with ``<…>`` for what varies (an f-string's
``{…}``, a variable). The page lists it when one line of the page holds the template's literal
parts (those of two words or more, or eight characters) in order: the page shows each message
in a code span, with placeholders like ``<file>``, so a reworded message fails here until its
entry says what the user now sees. A template with no such part (``<…>: <…>``, a message that
wraps another one) is checked where the inner one is made.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from syndicate.errors import DeliveryFailed
from tests.conftest import REPO

PAGE = REPO / "docs" / "troubleshooting.md"
PACKAGE = REPO / "syndicate"

# Calls that make a message, and where the message is among their arguments (position, keyword).
SINKS: dict[str, tuple[int | None, str]] = {
    **dict.fromkeys(
        ["ConfigError", "UnsafePathError", "OutputError", "StoreError", "LockedError", "LedgerLostError"],
        (0, "message"),
    ),
    "BucketError": (0, "message"),  # builder/bucket.py: an upload to a bucket that stopped
    **dict.fromkeys(
        ["FetchRefused", "_AddressRefused", "FitError", "ImageRejected", "DeadlinePassed", "KeyTaken"], (0, "message")
    ),
    "ContentError": (1, "message"),
    "FileUnreadable": (1, "message"),
    "Failure": (0, "message"),
    "Problem": (1, "message"),
    "_Skip": (0, "message"),
    "Scanned": (3, "error"),
    "Examined": (2, "problem"),
    "BadParameter": (0, "message"),
    "UsageError": (0, "message"),
    "update": (None, "problem"),  # the daemon's /healthz: health.update(status=…, problem=msg)
}
LISTS = {"warnings", "checks", "notes"}  # X.warnings.append(msg): printed as "warning: …", "check: …"
SKIP_MAPS = {"skip"}  # plan.skip[delivery] = why: a skipped delivery's reason, in `syndicate status --all`
SHOWN_VALUE_ERRORS = {"core/dates.py", "core/addresses.py", "core/uploads.py"}  # their ValueErrors reach the user
ROUTINE_EVENTS = {"built", "serving", "stopping", "stopped", "request", "delivered", "reload"}
# Functions whose returned text is a message or a part of one, wherever it is used.
MESSAGE_FUNCTIONS = {
    "skip_reason",  # core/dialects.py: why a Markdown file is no post (check's "skipped" list)
    "_outside",
    "name_problem",  # files.py
    "own_url",  # core/permalinks.py: why a post's own URL key cannot be used
    "_make",  # builder/workers.py: why a post's HTML could not be made
    "_why_not",  # builder/owned.py: why a file in the output folder is left alone
    "refused_advice",
    "after_failure",  # core/planning.py: a dead delivery's last error
    "why_not_public",  # core/addresses.py: why an image's address is not fetched
    "_reason",  # deliver/fetch.py: why an image could not be downloaded
    "unreadable",  # deliver/sqlite_store.py
    "_url_problem",  # adopt/: why init did not take a value
    "_path_problem",
    "stand_ins",  # config.py: the values init could not find (a list of lines)
    "missing_secrets",  # core/model.py: the targets whose secret is not in the environment
    "_published_config",  # cli/site_cmds.py: a Jekyll site that would publish the config
}
# Texts the scan finds that are never shown (a marker inside the code).
INTERNAL = {"\x00not a post in any format syndicate reads"}
# A line of a message with fewer words of its own ("<…>: <…>", "publishconf.py") is not looked for.
MIN_WORDS = 2
# Functions that format a part of a message but make none: what is passed to them is not followed.
FORMATTERS = {"plural", "at"}

Template = tuple[str | None, ...]  # literal parts; None where the message varies


@dataclass(frozen=True)
class Made:
    """One place that makes a message."""

    where: str  # "syndicate/config.py:151"
    how: str  # what makes it: "ConfigError", "log held", "doc.fail()"
    template: Template

    def shown(self) -> str:
        return "".join("<…>" if part is None else part for part in self.template)


class Code:
    """The package's syntax trees, and what the scan needs to find its way in them."""

    def __init__(self, root: Path = PACKAGE) -> None:
        self.root = root
        self.files: dict[ast.AST, Path] = {}
        self.parent: dict[ast.AST, ast.AST] = {}
        self.defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.calls: dict[str, list[ast.Call]] = {}
        self.constants: dict[tuple[Path, str], ast.expr] = {}
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                self.files[node] = path
                for child in ast.iter_child_nodes(node):
                    self.parent[child] = node
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.defs.setdefault(node.name, []).append(node)
                elif isinstance(node, ast.Call) and callee(node):
                    self.calls.setdefault(callee(node) or "", []).append(node)
            for stmt in tree.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    self.constants[(path, stmt.targets[0].id)] = stmt.value

    def where(self, node: ast.AST) -> str:
        path = self.files[node]
        shown = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name
        return f"{shown}:{getattr(node, 'lineno', 0)}"

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None


def callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def argument(call: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    if (
        position is not None
        and len(call.args) > position
        and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1])
    ):
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in fn.args.posonlyargs + fn.args.args]


def assigned(fn: ast.AST, name: str) -> list[ast.expr]:
    """What the function assigns to a local name (``x = …``, ``a, x = …`` takes the tuple's part;
    what ``x += …`` adds is one more of its values)."""
    out: list[ast.expr] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            out.append(node.value)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and target.id == name:
                    out.append(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = zip(target.elts, node.value.elts, strict=False)
                    out += [v for t, v in pairs if isinstance(t, ast.Name) and t.id == name]
    return out


def returned(fn: ast.AST, every: bool = False) -> list[ast.expr]:
    """What a function returns, the parts of a returned tuple or list (``return None, why``)
    included; ``every``: also what it yields, appends to a list or puts in a dict."""
    out: list[ast.expr] = []
    for node in ast.walk(fn):
        value: ast.expr | None = None
        if isinstance(node, ast.Return | ast.Yield):
            value = node.value
        elif every and isinstance(node, ast.Call) and callee(node) == "append" and node.args:
            value = node.args[0]
        elif every and isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            value = node.value
        if value is not None:
            out += value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
    return out


class Scan:
    """Every message the package makes: :attr:`made`."""

    def __init__(self, code: Code) -> None:
        self.code = code
        self.made: list[Made] = []
        self._helpers: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, int, str]] = []
        self._followed: set[tuple[int, str]] = set()
        self._parts: set[int] = set()
        for call in itertools.chain.from_iterable(code.calls.values()):
            found = self._sink(call)
            if found is not None:
                self.message(found[1], found[0], call)
        for name in MESSAGE_FUNCTIONS:
            for fn in code.defs.get(name, []):
                self._returns(fn, f"{name}()", every=True)
        while self._helpers:  # a message passed in: take it where the helper is called
            fn, index, name = self._helpers.pop()
            method = bool(params(fn)) and params(fn)[0] in ("self", "cls")
            for call in code.calls.get(fn.name, []):
                if isinstance(call.func, ast.Attribute) == method:
                    given = argument(call, index - method, name)
                    if given is not None:
                        self.message(given, f"{fn.name}()", call)

    def _sink(self, call: ast.Call) -> tuple[str, ast.expr] | None:
        name = callee(call) or ""
        file = self.code.files[call].relative_to(self.code.root).as_posix()
        f = call.func
        if name in SINKS:
            given = argument(call, *SINKS[name])
        elif name == "ValueError" and file in SHOWN_VALUE_ERRORS:
            given = argument(call, 0, "")
        elif name in ("append", "extend", "insert") and isinstance(f, ast.Attribute):
            owner = f.value
            listed = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else ""
            given = call.args[-1] if listed in LISTS and call.args else None
            if isinstance(given, ast.GeneratorExp | ast.ListComp):
                given = given.elt
            name = f"{listed}.{name}"
        elif name == "event" and call.args and isinstance(call.args[0], ast.Constant):
            kind = str(call.args[0].value)
            given = argument(call, 1, "message") if kind not in ROUTINE_EVENTS else None
            name = f"log {kind}"
        elif name == "echo" and file.startswith("cli/") and any(k.arg == "err" for k in call.keywords):
            given = argument(call, 0, "message")
        elif name == "fail" and isinstance(f, ast.Name):
            given = argument(call, 1, "message")
        else:
            return None
        return (name, given) if given is not None else None

    def message(self, expr: ast.expr, how: str, at: ast.AST) -> None:
        for template in dict.fromkeys(self.templates(expr, at)):
            self.made.append(Made(self.code.where(at), how, template))

    def _returns(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, how: str, every: bool = False) -> None:
        key = (id(fn), f"returns {every}")
        if key not in self._followed:
            self._followed.add(key)
            for value in returned(fn, every):
                self.message(value, how, value)

    def templates(self, expr: ast.expr, at: ast.AST, depth: int = 0) -> list[Template]:
        """The message's templates (one per way it can be put together); what the message is
        made of elsewhere (a helper's parameter, a function's return) is followed there."""
        if depth > 8:
            return [(None,)]

        def again(e: ast.expr) -> list[Template]:
            return self.templates(e, at, depth + 1)

        if isinstance(expr, ast.Constant):
            return [(expr.value,)] if isinstance(expr.value, str) else [(None,)]
        if isinstance(expr, ast.JoinedStr):
            parts: list[str | None] = []
            for value in expr.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    assert isinstance(value, ast.FormattedValue)
                    self._inner(value.value, at)
                    parts.append(None)
            return [tuple(parts)]
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return [a + b for a in again(expr.left) for b in again(expr.right)]
        if isinstance(expr, ast.IfExp):
            return again(expr.body) + again(expr.orelse)
        if isinstance(expr, ast.BoolOp):
            return [t for value in expr.values for t in again(value)]
        if isinstance(expr, ast.Name):
            fn = self.code.function_of(expr)
            values = assigned(fn, expr.id) if fn is not None else []
            if values:
                return [t for value in values for t in again(value)]
            if fn is not None and expr.id in params(fn):
                self._helper(fn, expr.id)
                return [(None,)]
            constant = self.code.constants.get((self.code.files[expr], expr.id))
            return again(constant) if constant is not None else [(None,)]
        if isinstance(expr, ast.Call):
            name = callee(expr) or ""
            if name in ("redact", "printable", "str", "shown") and expr.args:
                return again(expr.args[0])
            if name == "format" and isinstance(expr.func, ast.Attribute):
                return [
                    tuple(p for part in t for p in (_fields(part) if part is not None else [None]))
                    for t in again(expr.func.value)
                ]
            if len(self.code.defs.get(name, [])) == 1:
                self._returns(self.code.defs[name][0], f"{name}()")
            return [(None,)]
        return [(None,)]

    def _helper(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> None:
        """``name``, a parameter of ``fn``, is (a part of) a message: take it at each call of ``fn``."""
        if (id(fn), name) not in self._followed and fn.name not in FORMATTERS:
            self._followed.add((id(fn), name))
            self._helpers.append((fn, params(fn).index(name), name))

    def _inner(self, expr: ast.expr, at: ast.AST) -> None:
        """A part of a message (an f-string's ``{…}``) that is text made here or by the package:
        a message of its own, so that the page shows the words it can hold."""
        if id(expr) in self._parts:
            return
        self._parts.add(id(expr))
        if isinstance(expr, ast.Name):
            fn = self.code.function_of(expr)
            values = assigned(fn, expr.id) if fn is not None else []
            for value in values:
                if isinstance(value, ast.Call | ast.JoinedStr | ast.IfExp | ast.Constant):
                    self._inner(value, at)
            if fn is not None and not values and expr.id in params(fn):
                self._helper(fn, expr.id)
        elif isinstance(expr, ast.IfExp | ast.JoinedStr | ast.Constant):
            self.message(expr, "part", at)
        elif isinstance(expr, ast.Call) and len(self.code.defs.get(callee(expr) or "", [])) == 1:
            self._returns(self.code.defs[callee(expr) or ""][0], f"{callee(expr)}()")


def _fields(text: str) -> list[str | None]:
    """A ``str.format`` template: its ``{name}`` fields vary."""
    out: list[str | None] = []
    for i, piece in enumerate(re.split(r"(?<!\{)\{[^{}]*\}(?!\})", text)):
        out += [None, piece] if i else [piece]
    return out


def lines_of(template: Template) -> list[list[str]]:
    """Per line of output, the literal parts to find on the page (whitespace collapsed): those
    with a word in them, when the line has two words or more of its own."""
    lines: list[list[str]] = [[]]
    for part in template:
        for i, piece in enumerate([] if part is None else part.split("\n")):
            if i:
                lines.append([])
            if words(piece):
                lines[-1].append(" ".join(piece.split()))
    return [line for line in lines if sum(map(words, line)) >= MIN_WORDS]


def words(text: str) -> int:
    return sum(bool(re.search(r"[^\W\d_]", word)) for word in text.split())


def page_lines() -> list[str]:
    text = PAGE.read_text(encoding="utf-8").replace("\\|", "|")
    return [" ".join(line.split()) for line in text.splitlines()]


def listed(template: Template, page: list[str]) -> bool:
    return all(any(_in_order(parts, line) for line in page) for parts in lines_of(template))


def _in_order(parts: list[str], line: str) -> bool:
    at = 0
    for part in parts:
        at = line.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def every_message() -> list[Made]:
    return [m for m in Scan(Code()).made if lines_of(m.template) and not INTERNAL & set(m.template)]


def test_the_scan_finds_the_messages_where_they_are_made() -> None:
    made = every_message()
    assert len({m.template for m in made}) >= 250, "the scan lost its way: see SINKS and MESSAGE_FUNCTIONS"
    hows = {m.how.split(" ")[0].split(".")[0] for m in made}
    for kind in ("ConfigError", "ContentError", "Failure", "Problem", "_Skip", "log", "warnings", "checks", "fail()"):
        assert kind in hows, f"no message made by {kind}: was it renamed? update SINKS in {__name__}"
    code = Code()
    for name in SINKS:
        assert name in code.calls, f"nothing calls {name} any more: update SINKS in {__name__}"
    for name in MESSAGE_FUNCTIONS:
        assert name in code.defs, f"{name}() is gone from syndicate/: update MESSAGE_FUNCTIONS in {__name__}"


def test_the_page_lists_every_message() -> None:
    page = page_lines()
    missing: dict[Template, Made] = {}
    for made in every_message():
        if not listed(made.template, page):
            missing.setdefault(made.template, made)
    if missing:
        pytest.fail(
            f"{len(missing)} message(s) not in {PAGE.relative_to(REPO)}:\n"
            + "\n".join(
                f"{m.where}: {m.how} makes `{m.shown()}`: add an entry showing it (<…> is what varies)"
                for m in sorted(missing.values(), key=lambda m: m.where)
            ),
            pytrace=False,
        )


def test_the_check_finds_a_message_missing_from_the_page() -> None:
    made = Made("x.py:1", "ConfigError", ("[feeds] items must be between 1 and ", None, " (or else)"))
    assert listed(made.template, ["`<file>: [feeds] items must be between 1 and <n> (or else)`"])
    assert not listed(made.template, ["`<file>: [feeds] items must be between 1 and <n>`"])
    assert not listed(made.template, ["(or else) [feeds] items must be between 1 and"])  # out of order


def test_a_helper_passes_its_callers_messages_to_the_scan(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "class Doc:\n"
        "    def reject(self, key, message):\n"
        "        return ContentError('p', message)\n"
        "def use(doc):\n"
        "    why = f'the {doc} is wrong; fix it'\n"
        "    raise doc.reject('k', why)\n"
        "def other():\n"
        "    raise reject('k', 'a plain call, not the method')\n",
        encoding="utf-8",
    )
    made = Scan(Code(tmp_path)).made
    assert sorted(m.shown() for m in made if lines_of(m.template)) == ["the <…> is wrong; fix it"]


def test_a_mastodon_refusal_carries_the_instances_own_words() -> None:
    """`HTTP 422 Unprocessable Entity` alone does not say what to do; the instance's words do (a
    text it would not take, a token without the scope): they are the delivery's last error."""
    from tests.test_channels import PAYLOAD, delivery, mastodon, send

    words = "Validation failed: Text character limit of 500 exceeded"
    channel, _ = mastodon(lambda r: (422, {}, {"error": words}))
    with pytest.raises(DeliveryFailed) as info:
        send(channel, delivery("toot"), PAYLOAD)
    assert info.value.failure.message.startswith(f"HTTP 422 Unprocessable Entity: {words}")
    assert info.value.failure.permanent
    scopes = "This action is outside the authorized scopes"
    channel, _ = mastodon(lambda r: (403, {}, {"error": scopes}))
    with pytest.raises(DeliveryFailed) as info:
        send(channel, delivery("toot"), PAYLOAD)
    assert info.value.failure.message.startswith(f"HTTP 403: {scopes}; the access token may lack a scope")
