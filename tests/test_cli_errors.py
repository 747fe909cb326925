"""The command line says each error on one line, Chinese first and English beside it, and every
error graphsvc raises carries its Chinese sentence."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cli.commands import main
from helpers.cli_error import cli_error

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("argv", "zh", "en"), [
    (["generate", "{tmp}/city", "--persons", "10"], "演示城市至少需要 5000 人，才容得下其中的相似正常群体和团伙",
     "a demo city needs at least 5000 persons"),
    (["verify", "{tmp}/nowhere.zip"], "找不到移送包 {tmp}/nowhere.zip", "{tmp}/nowhere.zip: no such file or folder"),
    (["detect", "--quiet", "--home", "{tmp}/home"],
     "{tmp}/home 中尚无数据；请先导入：graphsvc ingest DIR --home {tmp}/home", "no graph in {tmp}/home"),
])
def test_an_error_is_one_line_chinese_first(argv: list[str], zh: str, en: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    said_zh, said_en = cli_error(capsys.readouterr().err)
    assert said_zh == zh.replace("{tmp}", str(tmp_path)), said_zh
    assert said_en.startswith(en.replace("{tmp}", str(tmp_path))), said_en


def test_an_error_of_a_kind_without_its_own_sentence_says_its_kind_in_chinese(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A mapping file's errors name its keys in English; the Chinese half says what kind of problem
    it is and points at them."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("tables: [1, 2]\n", encoding="utf-8")
    (tmp_path / "export").mkdir()
    capsys.readouterr()
    code = main(["ingest", str(tmp_path / "export"), "--mapping", str(mapping), "--home", str(tmp_path / "home")])
    said_zh, said_en = cli_error(capsys.readouterr().err)
    assert code == 2 and said_zh == "映射文件无法使用：文件、键和原因见后面的英文说明", said_zh
    assert "mapping.yaml" in said_en, said_en


def _error_kinds() -> dict[str, type]:
    """Every ``GraphsvcError`` kind the product defines, by class name."""
    import api.app  # noqa: F401  (imports every route, and so every error kind)
    import cli.commands  # noqa: F401
    import ingest.mapping  # noqa: F401
    from graphsvc.errors import GraphsvcError

    kinds: dict[str, type] = {}
    todo: list[type] = [GraphsvcError]
    while todo:
        kind = todo.pop()
        kinds[kind.__name__] = kind
        todo.extend(kind.__subclasses__())
    return kinds


def test_every_error_raised_says_itself_in_chinese() -> None:
    """A new ``raise InputError("...")`` without ``zh=`` would reach a fund's user in English only.
    Exempt: a kind whose own ``summary_zh`` is written for all its messages (the mapping file's, whose
    English names the file's keys)."""
    kinds = _error_kinds()
    own_summary = {name for name, kind in kinds.items() if "summary_zh" in vars(kind)
                   and kind.__module__ != "graphsvc.errors"}
    assert own_summary == {"MappingError", "BackupError"}, own_summary
    missing = []
    for folder in ("graphsvc", "ingest", "queries", "api", "services", "cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in kinds):
                    continue
                if node.func.id in ("MappingError",) or any(k.arg == "zh" for k in node.keywords):
                    continue
                if not node.args:  # a bare class (an except clause's tuple is no call)
                    continue
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}")
    assert missing == ["api/app.py:76 StoreError"], missing
