"""The `d3pr train` and `d3pr lifter train / crossfit` options are made from the config dataclasses:
every field is an option or is excluded by name, the historical flags still parse, only the
options given reach the config, and library errors name the flag of their argument."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from d3prefiner.cli import app, main
from d3prefiner.cli.common import config_options, flag_of, with_options
from d3prefiner.cli.lifter import ARCH_EXCLUDED, TRAIN_EXCLUDED
from d3prefiner.cli.train import REFINER_EXCLUDED
from d3prefiner.engine import LOOP_HELP, LoopConfig
from d3prefiner.lifters.config import LIFTER_HELP, TRAIN_HELP, LifterConfig, TrainConfig
from d3prefiner.refiner.config import FIELD_HELP, RefinerConfig


def _fields(cls, skip=()) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - set(skip)


def _command(*path):
    cmd = get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _flags(cmd) -> dict[str, list[str]]:
    return {p.name: p.opts + p.secondary_opts for p in cmd.params}


def test_every_config_field_is_an_option_or_excluded():
    loop = _fields(LoopConfig, ("betas",))
    refiner = _fields(RefinerConfig, ("loop", *REFINER_EXCLUDED)) | loop
    assert refiner <= set(_flags(_command("train")))
    lifter = _fields(LifterConfig, ARCH_EXCLUDED) | _fields(TrainConfig, ("loop", *TRAIN_EXCLUDED))
    for name in ("train", "crossfit"):
        assert lifter | loop <= set(_flags(_command("lifter", name))), name
    # every field has its help, beside its dataclass
    assert _fields(RefinerConfig, ("loop",)) == set(FIELD_HELP)
    assert _fields(LoopConfig) == set(LOOP_HELP)
    assert _fields(LifterConfig) == set(LIFTER_HELP)
    assert _fields(TrainConfig, ("lifter", "loop")) == set(TRAIN_HELP)


def test_a_field_without_a_command_line_form_must_be_excluded():
    with pytest.raises(TypeError, match="betas"):
        config_options(LoopConfig, help=LOOP_HELP)


def test_the_historical_flags_still_parse():
    train = _flags(_command("train"))
    assert {"--K", "-K"} <= set(train["K"])
    assert train["use_cnd"] == ["--cnd", "--no-cnd"]
    assert train["use_diffusion"] == ["--diffusion", "--no-diffusion"]
    for name, flag in (("batch_size", "--batch-size"), ("window", "--window"),
                       ("val_every", "--val-every"), ("noise_temporal", "--noise-temporal"),
                       ("steps", "--steps"), ("lr", "--lr"), ("seed", "--seed"),
                       ("precision", "--precision"), ("loss_x0", "--loss-x0")):  # fmt: skip
        assert flag in train[name], name
    assert train["noise_model"] == ["--noise"]
    lifter = _flags(_command("lifter", "train"))
    assert {"--window", "--T"} <= set(lifter["window"])
    for name, flag in (("velocity_weight", "--velocity-weight"), ("warmup_steps", "--warmup-steps"),
                       ("grad_clip", "--grad-clip"), ("qk_norm", "--no-qk-norm"),
                       ("tds", "--tds"), ("seed", "--seed")):  # fmt: skip
        assert flag in lifter[name], name


def test_only_the_options_given_reach_the_command():
    seen = {}
    mini = typer.Typer()

    @mini.command()
    @with_options(overrides=config_options(LoopConfig, help=LOOP_HELP, exclude=("betas",)))
    def run(name: str = typer.Option("x", "--name"), overrides: dict | None = None) -> None:
        seen.update(name=name, overrides=overrides)

    res = CliRunner().invoke(mini, ["--steps", "7", "--no-keep-best", "--lr", "0.01"])
    assert res.exit_code == 0, res.output
    assert seen == {"name": "x", "overrides": {"steps": 7, "keep_best": False, "lr": 0.01}}
    res = CliRunner().invoke(mini, [])
    assert seen["overrides"] == {}


def test_a_table_declares_each_option_once_and_the_command_gets_them_all():
    seen = {}
    mini = typer.Typer()
    table = {
        "path": (str, typer.Argument(..., help="A file.")),
        "count": (int, typer.Option(5, "--count", help="How many.")),
        "note": (str, typer.Option(None, "--note", help="Nothing by default.")),
    }

    @mini.command()
    @with_options(table, overrides=config_options(LoopConfig, help=LOOP_HELP, exclude=("betas",)))
    def run(a, overrides: dict) -> None:
        seen.update(vars(a), overrides=overrides)

    res = CliRunner().invoke(mini, ["in.npz", "--lr", "0.5"])
    assert res.exit_code == 0, res.output
    assert seen == {"path": "in.npz", "count": 5, "note": None, "overrides": {"lr": 0.5}}
    res = CliRunner().invoke(mini, ["in.npz", "--count", "2", "--note", "x", "--steps", "3"])
    assert (seen["count"], seen["note"], seen["overrides"]) == (2, "x", {"steps": 3})
    with pytest.raises(TypeError, match="count"):  # an option in the table and in a group
        with_options(table, more={"count": table["count"]})(lambda a, more: None)


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    assert exc.value.code == 2
    return capsys.readouterr().err.strip()


def test_library_errors_name_the_flag(tmp_path, capsys):
    out = tmp_path / "o"
    err = _error(["train", tmp_path / "p.npz", "--out", out, "--K", "0"], capsys)
    assert err.startswith("error: --K must be in [1, num_steps=50], got 0"), err
    err = _error(["train", tmp_path / "p.npz", "--out", out, "--val-every", "-1"], capsys)
    assert err == "error: --val-every must be >= 0, got -1"
    err = _error(["lifter", "train", "--out", out, "--T", "0", "--threads", "1"], capsys)
    assert err == "error: --window must be >= 1, got 0"
    err = _error(["lifter", "train", "--out", out, "--threads", "-2"], capsys)
    assert err.startswith("error: --threads must be 0"), err
    err = _error(["bench", "--until", "evaluate", "--out", out], capsys)
    assert err == "error: --until must be one of lifter, noise, refiner, got 'evaluate'"
    err = _error(["bench", "--test-path", tmp_path, "--out", out], capsys)
    assert err == "error: --test-path needs --test-source (the motion source it holds)"
    err = _error(["demo", "--mode", "huge", "--out", out], capsys)
    assert err.startswith("error: --mode must be one of"), err


def test_flag_of_spells_arguments_and_unknown_names():
    root = get_command(app)
    assert flag_of(root, ["train", "x"], "predictions") == "PREDICTIONS"
    assert flag_of(root, ["lifter", "train"], "window") == "--window"
    assert flag_of(root, ["lifter", "train"], "no_such_thing") == "--no-such-thing"


def test_no_command_function_is_over_60_lines():
    """Issue 36: a command parses, calls one library function and prints (its whole ``def``,
    options included, counted; decorators not)."""
    import ast
    import pathlib

    import d3prefiner.cli

    long = []
    for path in sorted(pathlib.Path(d3prefiner.cli.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        registered = {
            node.args[0].id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Call)
            and isinstance(node.func.func, ast.Attribute) and node.func.func.attr == "command"
            and node.args and isinstance(node.args[0], ast.Name)
        }  # fmt: skip
        for node in tree.body:
            decorated = any(
                ".command" in ast.unparse(d) for d in getattr(node, "decorator_list", [])
            )
            if isinstance(node, ast.FunctionDef) and (node.name in registered or decorated):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{path.name}:{node.name} ({n} lines)")
    assert not long, long


def test_the_bench_help_names_every_preset():
    """`d3pr bench --preset` lists what it takes: a new preset cannot hide from the help."""
    import re

    from d3prefiner.cli.pipeline import BENCH_PRESET_HELP
    from d3prefiner.study.presets import BENCH_PRESETS

    named = set(re.findall(r"\b(cpu\d*|paper\d*|tiny)\b", BENCH_PRESET_HELP))
    assert named == set(BENCH_PRESETS)


def test_the_size_options_name_every_preset():
    from typer.main import get_command as command

    from d3prefiner.lifters.config import PRESETS as LIFTERS
    from d3prefiner.refiner.config import PRESETS as REFINERS

    def helps(name: str) -> str:
        cmd = command(app)
        for part in name.split():
            cmd = cmd.commands[part]
        return next(p.help for p in cmd.params if p.name == "preset")

    for name, presets in (("lifter train", LIFTERS), ("grid", REFINERS), ("pooled", REFINERS)):
        text = helps(name)
        assert all(p in text for p in presets), (name, text)
