"""Stage 1, parse: every feature of the .net grammar, source spans, and syntax error classes."""

from __future__ import annotations

import pytest

from netc.dsl import parse
from netc.dsl.nodes import Call, Declaration, Definition, Pipeline, Program, Repeat
from netc.errors import SpecSyntaxError
from netc.source import Source


def _stages(text: str) -> tuple:
    program = parse(text)
    assert len(program.pipelines) == 1
    return program.pipelines[0].stages


def _names(text: str) -> list[str]:
    return [s.name for s in _stages(text)]


def _call(text: str) -> Call:
    """The first call of a one-line pipeline."""
    return _stages(text)[0]


def _values(text: str) -> list:
    return [a.value for a in _call(text).args]


def _syntax_error(text: str) -> SpecSyntaxError:
    with pytest.raises(SpecSyntaxError) as info:
        parse(text)
    return info.value


# ---- pipelines and line joining --------------------------------------------------------


def test_parse_returns_program_with_source() -> None:
    program = parse("affine(2, 3) -> mse")
    assert isinstance(program, Program)
    assert program.source.text == "affine(2, 3) -> mse"
    assert program.source.path == "<string>"
    assert program.definitions == () and program.declarations == ()


def test_parse_accepts_a_source_with_its_path() -> None:
    program = parse(Source.from_text("relu -> mse", "nets/a.net"))
    assert program.pipelines[0].span.path == "nets/a.net"


def test_parse_pipeline_single_line() -> None:
    assert _names("affine(784, 50) -> relu -> affine(10) -> softmax_ce") == [
        "affine", "relu", "affine", "softmax_ce"]


def test_parse_pipeline_newline_after_arrow_continues() -> None:
    assert _names("affine(2, 3) ->\n  relu ->\n  mse") == ["affine", "relu", "mse"]


def test_parse_pipeline_newline_before_arrow_continues() -> None:
    assert _names("affine(2, 3)\n  -> relu\n  -> mse") == ["affine", "relu", "mse"]


def test_parse_pipeline_blank_lines_and_comments_between_stages() -> None:
    text = "affine(2, 3) ->\n\n# a comment line\n\n   relu # trailing\n -> mse\n"
    assert _names(text) == ["affine", "relu", "mse"]


def test_parse_pipeline_newlines_inside_parentheses_continue() -> None:
    call = _call("affine(\n  2,\n  3\n) -> mse")
    assert [a.value for a in call.args] == [2, 3]


def test_parse_newline_after_star_continues() -> None:
    stage = _stages("relu *\n 3 -> mse")[0]
    assert isinstance(stage, Repeat) and stage.count == 3


def test_parse_comment_only_lines_and_trailing_comment() -> None:
    program = parse("# header\n# more\naffine(2, 3) -> mse  # the loss\n# footer")
    assert len(program.pipelines) == 1


def test_parse_hash_inside_string_is_not_a_comment() -> None:
    program = parse('data: "a#b.csv"\nrelu -> mse')
    assert program.declarations[0].args[0].value == "a#b.csv"


def test_parse_empty_text_is_an_empty_program() -> None:
    program = parse("")
    assert program.pipelines == () and program.definitions == ()


def test_parse_whitespace_and_comments_only_is_an_empty_program() -> None:
    program = parse("\n  \t\n# nothing here\n\n")
    assert program.pipelines == ()


def test_parse_two_pipelines_on_two_lines_are_two_statements() -> None:
    program = parse("affine(2, 3)\nmse")
    assert len(program.pipelines) == 2


# ---- arguments and values --------------------------------------------------------------


def test_parse_call_without_parentheses() -> None:
    call = _call("relu -> mse")
    assert call.name == "relu" and call.args == () and not call.has_parens


def test_parse_call_with_empty_parentheses() -> None:
    call = _call("relu() -> mse")
    assert call.args == () and call.has_parens


def test_parse_positional_and_keyword_args() -> None:
    call = _call("affine(784, n_out=50, init=he) -> mse")
    assert [a.name for a in call.args] == [None, "n_out", "init"]
    assert call.args[0].value == 784 and call.args[1].value == 50


def test_parse_trailing_comma_in_call() -> None:
    assert _values("affine(2, 3,) -> mse") == [2, 3]


def test_parse_integers_are_int() -> None:
    values = _values("f(0, 7, 784, +5, -2) -> mse")
    assert values == [0, 7, 784, 5, -2]
    assert all(type(v) is int for v in values)


@pytest.mark.parametrize(("text", "value"), [
    ("1e-3", 1e-3), (".5", 0.5), ("-2.5", -2.5), ("2.", 2.0), ("1E+2", 100.0), ("-.25", -0.25),
    ("3.0", 3.0), ("6e0", 6.0),
])
def test_parse_floats(text: str, value: float) -> None:
    (got,) = _values(f"f({text}) -> mse")
    assert type(got) is float and got == value


def test_parse_strings_with_escapes() -> None:
    values = _values(
        r"""f("a b", 'single', "quote \" inside", 'it\'s', "tab\tnl\n", "back\\") -> mse""")
    assert values == ["a b", "single", 'quote " inside', "it's", "tab\tnl\n", "back\\"]


def test_parse_string_with_unknown_escape_is_kept_verbatim() -> None:
    assert _values(r'f("\q") -> mse') == [r"\q"]


def test_parse_string_with_non_ascii() -> None:
    assert _values('f("données/é.csv") -> mse') == ["données/é.csv"]


def test_parse_identifier_values_are_parenless_calls() -> None:
    (value,) = _values("affine(10, init=xavier) -> mse")[1:]
    assert isinstance(value, Call) and value.name == "xavier" and not value.has_parens


def test_parse_true_and_false_are_identifiers() -> None:
    values = _values("f(a=true, b=false) -> mse")
    assert [v.name for v in values] == ["true", "false"]


def test_parse_call_as_argument_value() -> None:
    (value,) = _values("f(g(1, x=2)) -> mse")
    assert isinstance(value, Call) and value.has_parens and value.name == "g"
    assert [a.name for a in value.args] == [None, "x"]


# ---- blocks, repeats, groups -----------------------------------------------------------


def test_parse_block_definition() -> None:
    program = parse("hidden = affine(100) -> relu\nhidden -> mse")
    (d,) = program.definitions
    assert isinstance(d, Definition) and d.name == "hidden"
    assert [s.name for s in d.body.stages] == ["affine", "relu"]
    assert [s.name for s in program.pipelines[0].stages] == ["hidden", "mse"]


def test_parse_block_definition_continues_after_equals() -> None:
    program = parse("h =\n  affine(100) -> relu\nh -> mse")
    assert [s.name for s in program.definitions[0].body.stages] == ["affine", "relu"]


def test_parse_repeat_of_a_name() -> None:
    stage = _stages("x * 5 -> mse")[0]
    assert isinstance(stage, Repeat) and stage.count == 5 and stage.body.name == "x"
    assert (stage.count_span.line, stage.count_span.column) == (1, 5)


def test_parse_repeat_of_a_group() -> None:
    stage = _stages("(affine(10) -> relu) * 3 -> mse")[0]
    assert isinstance(stage, Repeat) and stage.count == 3
    assert isinstance(stage.body, Pipeline)
    assert [s.name for s in stage.body.stages] == ["affine", "relu"]
    assert stage.body.depth == 1


def test_parse_group_depth_counts_nesting() -> None:
    pipeline = parse("((relu)) -> mse").pipelines[0]
    assert pipeline.depth == 2


def test_parse_repeat_count_may_be_any_number() -> None:
    # Why: the grammar accepts any number; the expander rejects bad counts with a location.
    assert _stages("relu * 2.5 -> mse")[0].count == 2.5


# ---- declarations ----------------------------------------------------------------------


def test_parse_declaration_input() -> None:
    (d,) = parse("input: 784\nrelu -> mse").declarations
    assert isinstance(d, Declaration) and d.key == "input"
    assert [a.value for a in d.args] == [784]


def test_parse_declaration_optimizer_call() -> None:
    (d,) = parse("optimizer: adam(lr=0.001)\nrelu -> mse").declarations
    (arg,) = d.args
    assert isinstance(arg.value, Call) and arg.value.name == "adam"
    assert arg.value.args[0].name == "lr" and arg.value.args[0].value == 0.001


def test_parse_declaration_keywords() -> None:
    (d,) = parse("train: epochs=3, batch_size=10\nrelu -> mse").declarations
    assert [(a.name, a.value) for a in d.args] == [("epochs", 3), ("batch_size", 10)]


def test_parse_declaration_continues_over_lines_after_comma() -> None:
    program = parse("train: epochs=3,\n       batch_size=10,\n       seed=1\nrelu -> mse")
    (d,) = program.declarations
    assert [a.name for a in d.args] == ["epochs", "batch_size", "seed"]
    assert (d.span.line, d.span.end_line) == (1, 3)
    assert len(program.pipelines) == 1


def test_parse_declaration_continues_after_colon() -> None:
    (d,) = parse("input:\n  784\nrelu -> mse").declarations
    assert d.args[0].value == 784


def test_parse_statements_keep_their_kinds_in_any_order() -> None:
    program = parse("relu -> b -> mse\nb = tanh\ninput: 3\ndata: spiral")
    assert [d.key for d in program.declarations] == ["input", "data"]
    assert [d.name for d in program.definitions] == ["b"]


# ---- text normalisation ----------------------------------------------------------------


def test_parse_crlf_line_endings() -> None:
    program = parse("input: 2\r\naffine(3) ->\r\n  mse\r\n")
    assert [s.name for s in program.pipelines[0].stages] == ["affine", "mse"]
    assert program.pipelines[0].stages[1].span.line == 3


def test_parse_bare_cr_line_endings() -> None:
    program = parse("input: 2\raffine(3) -> mse")
    assert program.pipelines[0].span.line == 2


def test_parse_tabs_are_whitespace() -> None:
    assert _names("\taffine(2,\t3)\t->\trelu\t->\tmse") == ["affine", "relu", "mse"]


def test_parse_utf8_bom_is_dropped() -> None:
    call = _call("\ufeffaffine(2, 3) -> mse")
    assert (call.span.line, call.span.column, call.span.start) == (1, 1, 0)


# ---- spans -----------------------------------------------------------------------------


def test_span_line_and_column_are_one_based() -> None:
    stages = _stages("affine(2, 3) -> relu\n  -> mse")
    relu, mse = stages[1], stages[2]
    assert (relu.span.line, relu.span.column, relu.span.end_column) == (1, 17, 21)
    assert (mse.span.line, mse.span.column) == (2, 6)


def test_span_call_covers_name_and_arguments() -> None:
    call = _call("affine(2, 3) -> mse")
    assert (call.span.column, call.span.end_column) == (1, 13)
    assert (call.name_span.column, call.name_span.end_column) == (1, 7)
    assert [(a.span.column, a.value_span.column) for a in call.args] == [(8, 8), (11, 11)]


def test_span_keyword_arg_covers_name_and_value() -> None:
    (arg,) = _call("dropout(p=0.5) -> mse").args
    assert (arg.span.column, arg.span.end_column) == (9, 14)
    assert (arg.value_span.column, arg.value_span.end_column) == (11, 14)


def test_span_columns_count_characters_after_non_ascii() -> None:
    # 'é' is two bytes in UTF-8 but one character: columns count characters.
    stages = _stages('dropout(p="é") -> relu -> mse')
    assert stages[1].span.column == 19
    assert stages[1].span.start == 18


def test_span_columns_count_a_tab_as_one_character() -> None:
    stages = _stages("\trelu ->\tmse")
    assert stages[0].span.column == 2
    assert stages[1].span.column == 10


def test_span_after_crlf_and_bom() -> None:
    stages = _stages("\ufeffrelu\r\n  -> mse")
    assert (stages[1].span.line, stages[1].span.column) == (2, 6)


def test_span_path_follows_source() -> None:
    call = _call(Source.from_text("relu -> mse", "specs/x.net"))
    assert call.span.path == "specs/x.net"


def test_span_of_definition_and_declaration() -> None:
    program = parse("input: 784\nh = affine(100) -> relu\nh -> mse")
    d = program.definitions[0]
    assert (d.name_span.line, d.name_span.column, d.span.end_column) == (2, 1, 24)
    decl = program.declarations[0]
    assert (decl.key_span.column, decl.key_span.end_column, decl.span.end_column) == (1, 6, 11)


# ---- syntax errors ---------------------------------------------------------------------


def test_parse_error_unexpected_character() -> None:
    err = _syntax_error("affine(2, 3) $ relu")
    assert (err.code, err.line, err.column) == ("unexpected_character", 1, 14)
    assert "'$'" in str(err)


def test_parse_error_unexpected_character_column_after_non_ascii_and_tab() -> None:
    err = _syntax_error('relu -> dropout(p="é")\t-> ?')
    assert (err.code, err.line, err.column) == ("unexpected_character", 1, 27)


def test_parse_error_non_ascii_identifier() -> None:
    err = _syntax_error("input: 2\nrelu -> réseau -> mse")
    assert (err.code, err.line, err.column) == ("unexpected_character", 2, 10)


def test_parse_error_nul_byte() -> None:
    err = _syntax_error("affine(2, 3)\0 -> mse")
    assert (err.code, err.line, err.column) == ("unexpected_character", 1, 13)
    assert "NUL byte" in str(err)


def test_parse_error_square_brackets_hint() -> None:
    err = _syntax_error("affine[2, 3] -> mse")
    assert (err.code, err.column) == ("unexpected_character", 7)
    assert err.diagnostics[0].hint == "use parentheses '(' ')' for calls and groups"


def test_parse_error_semicolon_hint() -> None:
    err = _syntax_error("relu; mse")
    assert (err.code, err.column) == ("unexpected_character", 5)
    assert "new lines" in err.diagnostics[0].hint


def test_parse_error_missing_arrow_hint() -> None:
    err = _syntax_error("affine(2, 3) -> relu\n  -> relu mse")
    assert (err.code, err.line, err.column) == ("unexpected_token", 2, 11)
    assert err.diagnostics[0].hint == "missing '->' before 'mse'?"


def test_parse_error_missing_arrow_before_group() -> None:
    err = _syntax_error("affine(2, 3) (tanh) -> mse")
    assert (err.code, err.column) == ("unexpected_token", 14)
    assert err.diagnostics[0].hint == "missing '->' before '('?"


def test_parse_error_unexpected_token_lists_expected() -> None:
    err = _syntax_error("dropout(p=) -> mse")
    assert (err.code, err.line, err.column) == ("unexpected_token", 1, 11)
    assert "unexpected ')'; expected a name, a number or a string" in str(err)


def test_parse_error_double_arrow() -> None:
    err = _syntax_error("relu -> -> mse")
    assert (err.code, err.column) == ("unexpected_token", 9)
    assert "expected '(' or a name" in str(err)


def test_parse_error_stray_closing_paren() -> None:
    err = _syntax_error("relu -> mse\n)")
    assert (err.code, err.line, err.column) == ("unexpected_token", 2, 1)


def test_parse_error_trailing_arrow_is_unexpected_eof() -> None:
    err = _syntax_error("affine(2, 3) -> relu ->")
    assert (err.code, err.line, err.column) == ("unexpected_eof", 1, 24)
    assert err.diagnostics[0].hint == "a pipeline cannot end with '->'"


def test_parse_error_trailing_arrow_then_blank_lines() -> None:
    err = _syntax_error("affine(2, 3) ->\n  relu ->\n\n\n")
    assert (err.code, err.line, err.column) == ("unexpected_eof", 2, 10)
    assert err.diagnostics[0].hint == "a pipeline cannot end with '->'"


def test_parse_error_trailing_equals_has_no_arrow_hint() -> None:
    err = _syntax_error("block =")
    assert (err.code, err.line, err.column) == ("unexpected_eof", 1, 8)
    assert err.diagnostics[0].hint is None


def test_parse_error_trailing_colon_has_no_arrow_hint() -> None:
    err = _syntax_error("relu -> mse\ninput:")
    assert (err.code, err.line, err.column) == ("unexpected_eof", 2, 7)
    assert err.diagnostics[0].hint is None


def test_parse_error_unclosed_paren_at_end() -> None:
    err = _syntax_error("affine(2, 3 -> mse")
    assert (err.code, err.line, err.column) == ("unexpected_token", 1, 13)
    assert "expected ')'" in str(err)


def test_parse_error_unclosed_group_reaches_end_of_file() -> None:
    err = _syntax_error("input: 2\n(affine(3) -> relu\n  -> mse\n")
    assert (err.code, err.line, err.column) == ("unexpected_eof", 3, 9)
    assert "expected ')'" in str(err)


def test_parse_error_unclosed_paren_swallows_next_line() -> None:
    err = _syntax_error("h = (relu\nrelu -> mse")
    assert (err.code, err.line, err.column) == ("unexpected_token", 2, 1)


def test_parse_error_is_rendered_with_path_line_and_caret() -> None:
    err = _syntax_error(Source.from_text("relu -> -> mse", "nets/bad.net"))
    lines = str(err).splitlines()
    assert lines[0] == "nets/bad.net:1:9: error: unexpected '->'; expected '(' or a name"
    assert lines[1] == "  relu -> -> mse"
    assert lines[2] == "          ^~"


def test_parse_error_has_one_diagnostic_and_source() -> None:
    err = _syntax_error("relu -> ")
    assert len(err.diagnostics) == 1
    assert err.source is not None and err.path == "<string>"


def test_parse_setting_without_colon_gets_a_hint() -> None:
    with pytest.raises(SpecSyntaxError) as info:
        parse("input 784\naffine(10) -> softmax_ce")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("unexpected_token", 1, 7)
    assert d.hint is not None and "`input: 784`" in d.hint


@pytest.mark.parametrize("text", ["sgd(lr=0\u06601)", "f(\u0663)", "f(\uff11\uff10)",
                                  "f(1\u0660)", "(f) * \u0663"])
def test_parse_non_ascii_digits_are_refused_with_a_hint(text: str) -> None:
    # Before: `0٠1` lexed as one NUMBER and int() read it as 1.
    e = _syntax_error(f"{text} -> mse")
    (d,) = e.diagnostics
    assert d.code == "unexpected_character" and d.hint == "write numbers with the ASCII digits 0-9"
