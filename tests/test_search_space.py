"""Search-space specs, TOML files and the narrowing rule (no Optuna needed)."""

from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, the same parser, as glassnet.search_space reads it
    import tomli as tomllib

import pytest

from conftest import ROOT
from glassnet.errors import ConfigError, GlassnetError
from glassnet.search_space import (
    ParamSpec,
    check_unique,
    load_space_file,
    make_spec,
    narrow,
    parse_param,
)


@pytest.mark.parametrize("text, expected", [
    ("lr=log:1e-5:1e-1", ParamSpec("lr", "log", 1e-5, 0.1)),
    ("weight-decay=log:1e-8:1e-2", ParamSpec("weight_decay", "log", 1e-8, 1e-2)),
    ("dropout=float:0:0.5", ParamSpec("dropout", "float", 0.0, 0.5)),
    ("batch_size=int:16:128", ParamSpec("batch_size", "int", 16.0, 128.0)),
    ("hidden=choice:50,100,200", ParamSpec("hidden", "choice", choices=(50, 100, 200))),
    ("optimizer=choice:sgd,adam", ParamSpec("optimizer", "choice", choices=("sgd", "adam"))),
    ("momentum=choice:0.9", ParamSpec("momentum", "choice", choices=(0.9,))),
    ("batchnorm=choice:true,False", ParamSpec("batchnorm", "choice", choices=(True, False))),
])
def test_parse_param(text, expected):
    spec = parse_param(text)
    assert spec == expected
    assert [type(c) for c in spec.choices] == [type(c) for c in expected.choices]
    assert parse_param(f"{spec.name}={spec.describe()}") == spec


def test_a_narrowed_range_is_printed_as_a_spec_that_reads_back_as_it():
    """Six digits printed a round's range without its best trial's lr in it, and a range
    narrowed to one value as int:31:31, which --param refuses as empty."""
    narrowed = ParamSpec("lr", "log", 0.0016623512345678, 0.002456191485123)
    assert narrowed.describe() == "log:0.0016623512345678:0.002456191485123"
    assert parse_param(f"lr={narrowed.describe()}") == narrowed
    assert ParamSpec("batch_size", "int", 31.0, 31.0).describe() == "choice:31"
    assert parse_param("batch_size=choice:31").choices == (31,)
    assert ParamSpec("dropout", "float", 0.25, 0.25).describe() == "choice:0.25"
    wide = ParamSpec("batch_size", "int", 100.0, 1234567.0)  # not 1234567.0, nor 1e+06 below
    assert wide.describe() == "int:100:1234567" and parse_param(f"batch_size={wide.describe()}") == wide
    assert ParamSpec("batch_size", "int", 1e6, 1e6).describe() == "choice:1000000"


@pytest.mark.parametrize("text, message", [
    ("lr", "expected NAME=KIND:ARGS"),
    ("lr=", "expected NAME=KIND:ARGS"),
    ("=log:1:2", "expected NAME=KIND:ARGS"),
    ("lr=log:1e-5", "expected log:LOW:HIGH"),
    ("lr=log:1e-5:1e-1:3", "expected log:LOW:HIGH"),
    ("lr=gauss:0:1", "unknown kind 'gauss'"),
    ("lr=log:abc:1", "'abc' is not a number"),
    ("lr=log:1e-5:inf", "'inf' is not a finite number"),
    ("lr=log:1e-1:1e-5", "the range is empty (low 0.1 >= high 1e-05)"),
    ("dropout=float:0.5:0.5", "the range is empty"),
    ("lr=log:0:1", "a log range needs low > 0"),
    ("lr=log:1e-300:1e300", "a log range lies within 1e-100..1e+100, got 1e-300..1e+300"),  # its plot
    ("reg=log:1e-320:1", "a log range lies within"),
    ("hidden=choice:99999999999999999999",
     "integers are at most 2,147,483,647 in size, got 99999999999999999999"),
    ("batch_size=int:1:3000000000", "integers are at most 2,147,483,647 in size, got 3000000000"),
    ("hidden=choice:-99999999999999999999", "got -99999999999999999999"),  # as large, negative
    ("epochs=int:-3000000000:5", "got -3000000000"),
    ("batch_size=int:1.5:8", "int bounds must be whole numbers"),
    ("hidden=choice:", "give choices as choice:a,b,c"),
    ("hidden=choice:5,,7", "give choices as choice:a,b,c"),
    ("hidden=choice:5,5", "repeated choices"),
    ("2lr=float:0:1", "is not a parameter name"),
])
def test_bad_specs_are_config_errors_quoting_the_spec(text, message):
    with pytest.raises(ConfigError) as info:
        parse_param(text)
    assert message in str(info.value)
    assert isinstance(info.value, GlassnetError)
    assert repr(text) in str(info.value)  # the message quotes what the user typed


def test_space_file_strings_and_tables(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('[params]\nlr = "log:1e-5:1e-1"\n'
                    'weight_decay = { kind = "log", low = 1e-8, high = 1e-2 }\n'
                    'hidden = { kind = "choice", choices = [50, 100, "20-7-5"] }\n')
    specs = load_space_file(path)
    assert specs == [ParamSpec("lr", "log", 1e-5, 0.1), ParamSpec("weight_decay", "log", 1e-8, 1e-2),
                     ParamSpec("hidden", "choice", choices=(50, 100, "20-7-5"))]


@pytest.mark.parametrize("content, message", [
    ("lr = 'log:1e-5:1e-1'\n", "expected one [params] table"),
    ("[params]\n", "the [params] table is empty; give a line per parameter"),
    ("[params]\nlr = 3\n", "must be a string like"),
    ("[params]\nlr = { low = 1, high = 2 }\n", "needs 'kind'"),
    ("[params]\nlr = { kind = 'log', low = 1, high = 0.5 }\n", "the range is empty"),
    ("[params\nlr = 1\n", "is not readable TOML"),
    ("[params]\nlr = 3\n", "or a table, got the number 3"),
    # a string where a list belongs, a boolean where a number belongs: named, with the type
    ("[params]\nhidden = { kind = 'choice', choices = '8,4' }\n",
     "space.toml': 'choices' must be a list of values, e.g. choices = [8, 4] "
     "(or the string \"choice:8,4\"), got the string '8,4'"),
    # shown and stored as choice:8,4,16: three choices (and the resumed search disagreed)
    ("[params]\nhidden = { kind = 'choice', choices = ['8,4', 16] }\n",
     "a choice cannot hold a comma, got '8,4' (layer sizes are written 8-4)"),
    ("[params]\nlr = { kind = 'log', low = true, high = 0.1 }\n",
     "space.toml': 'low' must be a number (e.g. low = 1e-4), got the boolean true"),
    ("[params]\nlr = { kind = 'log', low = '1e-4', high = 1e-1 }\n",
     "space.toml': 'low' must be a number (e.g. low = 1e-4), got the string '1e-4'"),
    ("[params]\nlr = { kind = 'float', low = 0, high = [1] }\n",
     "'high' must be a number (e.g. high = 1e-4), got the list [1]"),
    ("[params]\nlr = { kind = 'log', low = inf, high = 0.1 }\n", "'inf' is not a finite number"),
    ("[params]\nlr = { kind = 'log', high = 0.1 }\n",
     "parameter 'lr' of kind 'log' takes 'low' and 'high', got keys ['high', 'kind']"),
    ("[params]\nh = { kind = 'choice', low = 1, high = 2 }\n",
     "parameter 'h' of kind 'choice' takes 'choices', got keys ['high', 'kind', 'low']"),
    ("[params]\nlr = { kind = 'log', low = 1e-4, hi = 0.1 }\n",
     "needs 'kind' and 'low'/'high' or 'choices', got keys ['hi', 'kind', 'low'] ('hi' is not one of them)"),
])
def test_bad_space_files(tmp_path, content, message):
    path = tmp_path / "space.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_space_file(path)
    assert message in str(info.value)


def test_make_spec_refuses_a_boolean_bound_and_a_string_of_choices():
    with pytest.raises(ConfigError, match="'high' must be a number .*got the boolean false"):
        make_spec("momentum", "float", 0.5, False)
    with pytest.raises(ConfigError, match="'choices' must be a list .*got the string 'relu'"):
        make_spec("activation", "choice", choices="relu")
    with pytest.raises(ConfigError, match="a log range needs 'low'"):
        make_spec("lr", "log", None, 0.1)


def test_missing_space_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_space_file(tmp_path / "nope.toml")


def test_end_points_bound_what_a_trial_may_draw():
    assert parse_param("lr=log:1e-5:1e-1").end_points() == (1e-5, 0.1)
    assert parse_param("batch_size=int:16:128").end_points() == (16, 128)
    assert parse_param("hidden=choice:50,20-7").end_points() == (50, "20-7")


def test_check_unique():
    with pytest.raises(ConfigError, match=r"\['lr'\] given more than once"):
        check_unique([parse_param("lr=log:1e-3:1"), parse_param("lr=log:1e-4:1")])
    with pytest.raises(ConfigError, match="nothing to search"):
        check_unique([])


def test_narrow_keeps_the_span_of_the_best_quarter():
    specs = [ParamSpec("lr", "log", 1e-5, 1.0), ParamSpec("h", "choice", choices=(1, 2, 3)),
             ParamSpec("b", "int", 1, 100)]
    results = [({"lr": 10.0 ** -k, "h": 1 + k % 3, "b": 10 * k}, score)
               for k, score in zip(range(1, 9), [0.1, 0.9, 0.2, 0.8, 0.3, 0.4, 0.5, 0.6], strict=True)]
    lr, h, b = narrow(specs, results)
    # best quarter of 8 = the 2 best: k=2 (0.9) and k=4 (0.8)
    assert (lr.low, lr.high) == pytest.approx((1e-4, 1e-2))
    assert lr.kind == "log"
    assert h.choices == (2, 3) and h.domain == (1, 2, 3)  # k=2 used 3, k=4 used 2
    assert (b.low, b.high) == (20.0, 40.0)


def test_a_best_quarter_that_is_not_whole_is_rounded_up():
    """A quarter of 9 trials is 2.25: the 3 best narrow the range, not only 2."""
    specs = [ParamSpec("dropout", "float", 0.0, 1.0)]
    results = [({"dropout": k / 10}, score) for k, score in enumerate([0.1, 0.9, 0.2, 0.8, 0.3, 0.7,
                                                                       0.4, 0.5, 0.6])]
    (dropout,) = narrow(specs, results)
    assert (dropout.low, dropout.high) == (0.1, 0.5)  # 0.9 (k=1), 0.8 (k=3), 0.7 (k=5)


def test_narrow_needs_two_results():
    specs = [ParamSpec("lr", "log", 1e-5, 1.0)]
    assert narrow(specs, [({"lr": 0.1}, 0.5)]) == specs


def test_a_narrowed_choice_keeps_the_best_values_and_remembers_all_of_them():
    spec = ParamSpec("hidden", "choice", choices=(50, "20-7-5", 100, 200))
    results = [({"hidden": 200}, 0.9), ({"hidden": 50}, 0.8), ({"hidden": 100}, 0.1),
               ({"hidden": "20-7-5"}, 0.2)]
    (narrowed,) = narrow([spec], results)
    assert narrowed.choices == (50, 200) and narrowed.domain == spec.choices and narrowed.narrowed
    assert narrowed.describe() == "choice:50,200"
    assert ParamSpec.from_dict(narrowed.to_dict()) == narrowed  # stored per round in the study
    assert narrowed.distribution().choices == spec.choices  # Optuna sees the same choice
    (again,) = narrow([narrowed], [({"hidden": 200}, 0.9), ({"hidden": 200}, 0.8)])
    assert again.choices == (200,) and again.domain == spec.choices
    assert not spec.narrowed and "domain" not in spec.to_dict()


def test_the_test_extra_installs_what_every_other_extra_but_gpu_does():
    """`make test` installs the test extra, whose search tests read TOML space files: on
    Python 3.10 they need the search extra's tomli, which the test extra lacked."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in set(extras) - {"test", "gpu"}:
        assert set(extras[name]) <= set(extras["test"]), name


def test_space_files_on_python_3_10_use_tomli_or_say_to_install_it(tmp_path, monkeypatch):
    """Python 3.10 has no tomllib: the search extra installs tomli there, the same parser."""
    import sys

    path = tmp_path / "space.toml"
    path.write_text('[params]\nlr = "log:1e-5:1e-1"\n')
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib: ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "tomli", tomllib)  # tomli's API is tomllib's
    assert load_space_file(path) == [ParamSpec("lr", "log", 1e-5, 0.1)]
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ConfigError, match=r"search-space files need tomli on Python 3.10: pip install "
                                          r"'glassnet\[search\]' \(or give the parameters with --param\)"):
        load_space_file(path)
