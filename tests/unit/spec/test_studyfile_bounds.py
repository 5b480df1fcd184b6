"""Study files are read with bounds: at most MAX_STUDY_FILE_BYTES, at most MAX_YAML_VALUES values once YAML
aliases are expanded, at most MAX_YAML_DEPTH deep and numbers of at most MAX_NUMBER_CHARS, so a few hundred
bytes of nested aliases, /dev/zero, a huge file, 60,000 brackets or a 50,000-digit number is one line and
exit 2, in bounded time and memory, with nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from study import cli
from study.errors import ConfigError
from study.spec.studyfile import (
    MAX_NUMBER_CHARS,
    MAX_STUDY_FILE_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_VALUES,
    parse_yaml,
    read_yaml,
)
from study.spec.train import MAX_ITERATIONS

STUDY = "study: probe\nbase: {data: {name: mnist}}\ngrid: {model.activation: [sigmoid, relu]}\n"


def alias_chain(width: int, depth: int, mapping: bool) -> tuple[str, int]:
    """Levels l0..l<depth>, each `width` aliases of the one before (a sequence, or a mapping of merge-free
    keys); the YAML text and the number of values it holds expanded."""

    def body(items: list[str]) -> str:
        if mapping:
            return "{" + ", ".join(f"k{i}: {item}" for i, item in enumerate(items)) + "}"
        return "[" + ", ".join(items) + "]"

    lines = [f"l0: &l0 {body(['x'] * width)}"]
    per_item = 2 if mapping else 1  # a mapping's key is a value too
    size = 1 + width * per_item
    total = 1 + 1 + size  # the root mapping, the key l0, level 0
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} {body([f'*l{level - 1}'] * width)}")
        size = 1 + width * (size + per_item - 1)
        total += 1 + size
    return "\n".join(lines) + "\n", total


@given(st.integers(2, 12), st.integers(1, 12), st.booleans())
def test_nested_aliases_are_read_or_refused_by_their_expanded_size(width, depth, mapping):
    text, expanded = alias_chain(width, depth, mapping)
    if expanded <= MAX_YAML_VALUES:
        doc = parse_yaml(text)
        assert len(doc) == depth + 1
    else:
        with pytest.raises(Exception, match=f"more than {MAX_YAML_VALUES:,} values once its aliases are expanded"):
            parse_yaml(text)


def test_an_alias_bomb_study_file_is_one_line_exit_2_and_nothing_written(tmp_cwd, capsys):
    text, expanded = alias_chain(9, 9, mapping=False)
    assert expanded > 10**8 and len(text) < 1000
    (tmp_cwd / "bomb.yaml").write_text(STUDY + text, encoding="utf-8")
    assert cli.main(["run", "bomb.yaml", "--dry-run"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: bomb.yaml: not valid YAML at line ") and "aliases are expanded" in line
    assert not (tmp_cwd / "mlruns").exists()


def test_shared_blocks_through_aliases_still_work(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(STUDY + "x-net: &net [64, 32]\narchitectures: {}\n", encoding="utf-8")
    doc = read_yaml(path)
    assert doc["x-net"] == [64, 32]
    assert parse_yaml("a: &a {lr: 0.1}\nb: *a\nc: {<<: *a, momentum: 0.9}\n")["c"] == {"lr": 0.1, "momentum": 0.9}


def test_a_huge_study_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(STUDY + "#" * MAX_STUDY_FILE_BYTES + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"larger than {MAX_STUDY_FILE_BYTES:,} bytes"):
        read_yaml(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_dev_zero_as_a_study_file_is_refused_without_reading_it_whole():
    with pytest.raises(ConfigError, match="larger than"):
        read_yaml(Path("/dev/zero"))


def test_more_iterations_than_a_store_can_log_is_refused_before_anything_runs(tmp_cwd, capsys):
    (tmp_cwd / "long.yaml").write_text(
        STUDY.replace("{name: mnist}", "{name: mnist}, train: {iterations: 10000000000}")
    )
    assert cli.main(["run", "long.yaml", "--dry-run"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: long.yaml: base.train.iterations: 10000000000: ") and f"{MAX_ITERATIONS}" in line
    assert not (tmp_cwd / "mlruns").exists()


@given(st.integers(1, 3 * MAX_YAML_DEPTH), st.booleans())
@example(MAX_YAML_DEPTH - 1, True).via("the deepest mapping allowed, holding a scalar (was refused)")
@example(MAX_YAML_DEPTH - 1, False)
@example(MAX_YAML_DEPTH, True)
@example(MAX_YAML_DEPTH, False)
def test_nesting_is_read_or_refused_by_its_depth(depth, mapping):
    text = "a: " + ("{b: " * depth + "1" + "}" * depth if mapping else "[" * depth + "]" * depth) + "\n"
    if depth < MAX_YAML_DEPTH:  # the root mapping is one level
        parse_yaml(text)
    else:
        with pytest.raises(Exception, match=f"nested more than {MAX_YAML_DEPTH} lists or mappings deep"):
            parse_yaml(text)


@given(st.integers(1, 3 * MAX_NUMBER_CHARS), st.sampled_from(["", "-", "0.", "1e"]))
def test_numbers_are_read_or_refused_by_their_length(digits, prefix):
    literal = prefix + "7" * digits
    if len(literal) <= MAX_NUMBER_CHARS:
        assert isinstance(parse_yaml(f"x: {literal}\n")["x"], (int, float))
    else:
        with pytest.raises(Exception, match=f"a number of {len(literal):,} characters; at most {MAX_NUMBER_CHARS}"):
            parse_yaml(f"x: {literal}\n")


@pytest.mark.parametrize("text", ["[" * 60000 + "]" * 60000, "9" * 50000])
def test_deep_nesting_and_long_numbers_are_one_line_exit_2(text, tmp_cwd, capsys):
    (tmp_cwd / "odd.yaml").write_text(STUDY + "seeds: " + text + "\n", encoding="utf-8")
    assert cli.main(["run", "odd.yaml", "--dry-run"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: odd.yaml: not valid YAML at line 4")
    assert not (tmp_cwd / "mlruns").exists()


@pytest.mark.parametrize(
    ("override", "key"),
    [("seeds=" + "9" * 6000, "seeds: "), ("model.initializer=" + "x" * 5000, "base.model.initializer")],
)
def test_a_long_bad_value_is_echoed_cut_with_its_length(override, key, tmp_cwd, capsys):
    """One readable line: the value's start and how long it is, not thousands of characters."""
    (tmp_cwd / "s.yaml").write_text(STUDY, encoding="utf-8")
    assert cli.main(["run", "s.yaml", "--dry-run", "--set", override]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: s.yaml: {key}") and "characters)" in line and len(line) < 400, line
