"""Hostile input, the command-line side (issue 12, classes 2, 3 and 6-11): every case checks the contract.

The contract, for every command and every input: exit 0 ok, 1 verification failed, 2 bad input, 130
interrupted; on exit 2 exactly one line on stderr, starting ``error: ``, and no traceback; stdout empty
or one JSON document; no user file damaged. Cases that could hurt the machine if the code regressed
(streams, signals, file-size limits, start-up) run in a subprocess under resource limits (address space,
CPU time, file size) and a wall-clock timeout; the rest run in-process. The usage-error cases are
generated from the commands' own options, so a command or option added later is covered too.
Classes 1, 4 and 5 (what is read from files) are in ``tests/io/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mae_cli.app import COMMANDS, app

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SRC = ROOT / "tests" / "data" / "official_fixture"
MEMORY_LIMIT = 6 << 30  # address space: torch and a ViT-B forward need about 3 GiB
CPU_LIMIT = 120  # seconds of CPU
WALL_LIMIT = 180  # seconds
MARKUP = ["[/]", "[red]dir[/red]", "[bold", "x]y[", "[link=x]p[/link]", "\\[/]"]


# --- the contract ------------------------------------------------------------------------------------

def assert_contract(code: int, stdout: str, stderr: str, expected: int, *, words: tuple[str, ...] = (),
                    json_out: bool = False) -> None:
    assert code == expected, (code, stdout[-2000:], stderr[-2000:])
    assert "Traceback" not in stdout + stderr, stderr[-3000:]
    if expected == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
        assert stdout == "", stdout
        for word in words:
            assert word in lines[0], (word, lines[0])
    elif json_out and expected in (0, 1):
        json.loads(stdout)  # exactly one document


def check(result, expected: int, *, words: tuple[str, ...] = (), json_out: bool = False) -> None:
    assert_contract(result.exit_code, result.stdout, result.stderr, expected, words=words, json_out=json_out)


def limits(file_size: int | None = None):
    """A preexec_fn: address space, CPU time and (optionally) file size limited, so that a regression
    (an unbounded read, a runaway loop) ends this one process, not the machine."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT))
        if file_size is not None:  # writes past it fail with EFBIG instead of killing the process
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return apply


def mae(*args: str | bytes, env: dict[str, str] | None = None, file_size: int | None = None,
        stdout=subprocess.PIPE, timeout: float = WALL_LIMIT) -> subprocess.CompletedProcess:
    """`python -m mae_cli ARGS` in a limited subprocess; output decoded as UTF-8 with replacement."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "mae_cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          env=environ, timeout=timeout, preexec_fn=limits(file_size))
    proc.stdout = (proc.stdout or b"").decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    return proc


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def png(tmp_path_factory) -> Path:
    from PIL import Image

    from mae_core.io.images import builtin_image

    path = tmp_path_factory.mktemp("img") / "picture.png"
    Image.fromarray(builtin_image(64)).save(path)
    return path


# --- class 2: Rich markup in user text -----------------------------------------------------------------

@pytest.mark.parametrize("markup", MARKUP)
@pytest.mark.parametrize("command", ["forward", "compare-official", "mask-demo"])
def test_markup_in_a_missing_image_path_is_shown_as_typed(cli, tmp_path, command, markup):
    path = f"{tmp_path}/{markup}.png"
    check(cli(command, "--image", path), 2, words=(markup, "does not exist"))


@pytest.mark.parametrize("markup", MARKUP)
def test_markup_in_a_missing_checkpoint_path_is_shown_as_typed(cli, tmp_path, markup):
    check(cli("forward", "--weights", f"{tmp_path}/{markup}.pth"), 2, words=(markup, "does not exist"))


@pytest.mark.parametrize("markup", MARKUP)
@pytest.mark.parametrize("command", ["params", "shapes", "flops", "forward"])
def test_markup_in_a_variant_name_is_shown_as_typed(cli, command, markup):
    check(cli(command, "--variant", markup), 2, words=(markup,))


@pytest.mark.parametrize("command", ["params", "forward", "compare-official", "mask-demo"])
def test_a_100000_character_variant_is_cut_in_the_message(cli, command):
    result = cli(command, "--variant", "v" * 100_000)
    check(result, 2)
    assert len(result.stderr) < 1000


@pytest.mark.parametrize("markup", ["[/]", "[red]dir[/red]"])
def test_markup_in_real_file_names_is_printed_literally(cli, tmp_path, png, base_zeros_checkpoint, markup):
    folder = tmp_path / markup.replace("/", "_slash_")
    folder.mkdir()
    image = folder / f"{markup.replace('/', '|')}.png"
    image.write_bytes(png.read_bytes())
    weights = folder / f"{markup.replace('/', '|')}.pth"
    weights.write_bytes(base_zeros_checkpoint.read_bytes())
    before = digest(weights)
    result = cli("forward", "--image", str(image), "--weights", str(weights))
    check(result, 0)
    flat = "".join(result.stdout.split())  # the table may fold a long path over lines
    assert "".join(image.name.split()) in flat and "".join(weights.name.split()) in flat
    assert digest(weights) == before


def test_markup_in_a_mask_demo_image_name_is_printed_literally(cli, tmp_path, png):
    image = tmp_path / "[x]y[red].png"
    image.write_bytes(png.read_bytes())
    result = cli("mask-demo", str(image), "--out", str(tmp_path / "out.png"))
    check(result, 0)
    assert "[x]y[red].png" in result.stdout
    assert "note:" not in result.stdout and "note: no --weights" in result.stderr  # class 10: notes on stderr


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
@pytest.mark.parametrize("option", ["--weights", "--image"])
def test_a_device_or_fifo_is_refused_at_once(cli, tmp_path, kind, option):
    """Class 1 from the command line (the readers themselves are tested in tests/io): nothing is read."""
    path = "/dev/zero" if kind == "/dev/zero" else tmp_path / "f.pth"
    if kind == "fifo":
        os.mkfifo(path)
    start = time.perf_counter()
    check(cli("forward", option, str(path)), 2, words=("not a regular file",))
    assert time.perf_counter() - start < 1


# --- class 3: numbers out of range ---------------------------------------------------------------------

RANGE_CASES = [
    ("shapes", "--batch", "1000000000"), ("shapes", "--batch", "9223372036854775808"),
    ("shapes", "--batch", "4611686018427387904"), ("shapes", "--batch", "-1"), ("shapes", "--batch", "0"),
    ("forward", "--batch", "1000000000"), ("forward", "--batch", "9223372036854775808"),
    ("compare-official", "--batch", "1000000000"), ("bench", "--batch", "1000000000"),
    ("forward", "--seed", "18446744073709551616"), ("forward", "--seed", "-9223372036854775809"),
    ("compare-official", "--seed", "18446744073709551616"), ("mask-demo", "--seed", "-9223372036854775809"),
    ("bench", "--seed", "18446744073709551616"), ("bench", "--threads", "5000"), ("bench", "--threads", "0"),
    ("bench", "--runs", "0"), ("bench", "--warmup", "-1"), ("forward", "--warmup", "-1"),
    ("forward", "--repeat", "0"), ("forward", "--repeat", str(10**20)), ("params", "--depth", str(10**30)),
    ("params", "--depth", "-1"), ("forward", "--mask-ratio", "nan"), ("forward", "--mask-ratio", "inf"),
    ("forward", "--mask-ratio", "-inf"), ("forward", "--mask-ratio", "1e309"), ("forward", "--mask-ratio", "1"),
    ("shapes", "--mask-ratio", "-0.0001"), ("mask-demo", "--mask-ratio", "nan"),
    ("compare-official", "--atol", "nan"), ("compare-official", "--atol", "-1"), ("compare-official", "--rtol", "inf"),
]


@pytest.mark.parametrize("command, option, value", RANGE_CASES)
def test_numbers_out_of_range_are_refused_at_the_option(cli, command, option, value):
    check(cli(command, option, value), 2, words=(option,))


def test_the_largest_seed_torch_accepts_is_accepted(cli_json):
    assert cli_json("forward", "--variant", "base", "--seed", str(2**64 - 1))["seed"] == 2**64 - 1


# --- class 6: outputs -----------------------------------------------------------------------------------

def test_a_symlink_out_is_refused_and_its_target_kept(cli, tmp_path):
    target = tmp_path / "precious.png"
    target.write_bytes(b"precious")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    check(cli("mask-demo", "--out", str(link)), 2, words=("symbolic link",))
    assert target.read_bytes() == b"precious" and link.is_symlink()


def test_follow_symlink_replaces_the_target(cli, tmp_path):
    from PIL import Image

    target = tmp_path / "target.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    check(cli("mask-demo", "--out", str(link), "--follow-symlink"), 0)
    assert link.is_symlink() and Image.open(target).format == "PNG"


@pytest.mark.parametrize("make, words", [
    (lambda tmp: tmp / "no_such_folder" / "x.png", ("does not exist",)),
    (lambda tmp: (tmp / "folder.png").mkdir() or tmp / "folder.png", ("directory",)),
    (lambda tmp: tmp / "picture.jpg", (".png",)),
])
def test_unwritable_outs_are_refused_before_any_work(cli, tmp_path, make, words):
    check(cli("mask-demo", "--out", str(make(tmp_path))), 2, words=words)


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    """File size limited to 20 KB (the picture is larger): the write fails, the good file stays."""
    out = tmp_path / "good.png"
    out.write_bytes(b"a good picture" * 100)
    before = digest(out)
    proc = mae("mask-demo", "--out", str(out), file_size=20_000)
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 2, words=("nothing was changed",))
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.png"]


# --- class 7: the terminal and the pipes ----------------------------------------------------------------

def test_stdout_closed_is_one_line_exit_2():
    proc = subprocess.run(["bash", "-c", f'exec "{sys.executable}" -m mae_cli params >&-'], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=WALL_LIMIT,
                          preexec_fn=limits())
    assert_contract(proc.returncode, "", proc.stderr, 2, words=("stdout is closed",))


@pytest.mark.parametrize("json_out", [False, True], ids=["table", "json"])
def test_stdout_full_is_one_line_exit_2(json_out):
    with open("/dev/full", "wb") as full:
        proc = mae("params", *(["--json"] if json_out else []), stdout=full)
    assert_contract(proc.returncode, "", proc.stderr, 2, words=("No space left",))


@pytest.mark.parametrize("json_out", [False, True], ids=["table", "json"])
def test_a_pipe_closed_early_ends_quietly(json_out):
    script = (f'"{sys.executable}" -m mae_cli params --variant huge --depth 3 {"--json" if json_out else ""}'
              ' | head -c 100 > /dev/null; echo "${PIPESTATUS[0]}" >&2')
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=WALL_LIMIT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=limits())
    assert proc.stderr.strip() == "0", proc.stderr  # no message, and the command's own exit code


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"}],
                         ids=["ascii", "LANG=C"])
def test_an_output_encoding_without_the_characters_replaces_them(tmp_path, env):
    proc = mae("mask-demo", "--out", str(tmp_path / "x.png"), env=env)
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 0)
    assert "visible" in proc.stdout


def test_bench_under_latin_1_and_one_run_in_the_singular():
    """Its table has a "Δpred" column latin-1 cannot hold; `--runs 1` is "median of 1 run"."""
    proc = mae("bench", "--variant", "base", "--runs", "1", "--warmup", "0", "--path", "exact",
               env={"PYTHONIOENCODING": "latin-1", "COLUMNS": "120"})
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 0)
    assert "median of 1 run" in proc.stdout and "1 alternating runs" not in proc.stdout


def test_a_non_utf8_file_name(tmp_path, png):
    name = os.fsencode(tmp_path) + b"/pic\xff\xfe.png"
    with open(name, "wb") as f:
        f.write(png.read_bytes())
    proc = mae("forward", "--image", name, "--variant", "base")
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 0)
    missing = mae("forward", "--image", os.fsencode(tmp_path) + b"/gone\xff.png")
    assert_contract(missing.returncode, missing.stdout, missing.stderr, 2, words=("does not exist",))


@pytest.mark.parametrize("columns", ["0", "1", "abc"])
def test_any_columns_value_still_prints_the_table(columns):
    proc = mae("params", env={"COLUMNS": columns})
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 0)
    assert "111,907,840" in proc.stdout


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_ctrl_c_at_any_moment_is_one_line_and_130(delay):
    """SIGINT during start-up, imports, the model build or the forward pass. Python's own start-up (the
    interpreter importing ``site``, before any code of this project runs) is the interpreter's business:
    on a loaded machine 0.3 s can still fall there, and that outcome is accepted as it is.

    Up to three tries: once in five runs on a 2-core machine (beside a full test run) the 1.0 s signal
    failed the contract and 13 repeats by hand, loaded and not, did not reproduce it; a break that is not
    a matter of timing fails all three tries."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    failures = []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "mae_cli", "forward", "--variant", "base", "--repeat", "500"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
                                preexec_fn=limits())
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=WALL_LIMIT)
        if "init_import_site" in stderr or (proc.returncode == -signal.SIGINT and stderr == ""):
            return  # still inside the interpreter's own start-up
        if (proc.returncode in (130, -signal.SIGINT) and stderr.splitlines()[-1:] == ["interrupted"]
                and "Traceback" not in stderr and stdout == ""):
            return
        failures.append((proc.returncode, stdout[-300:], stderr[-1500:]))
    raise AssertionError(f"the contract failed in all three tries: {failures}")


# --- class 8: usage errors --------------------------------------------------------------------------------

def _kind(param) -> str:
    """"int", "float" or something else: the option's value type, on Click's Typer or Typer's own."""
    name = getattr(getattr(param, "type", None), "name", None)
    if name is None:
        name = str(param.bare_type()) if hasattr(param, "bare_type") else ""
    return {"integer": "int", "integer range": "int", "float": "float", "float range": "float"}.get(name, name)


def _usage_cases() -> list:
    """For every option of every command: a missing value, and for numbers a value of the wrong kind."""
    import typer.main

    group = typer.main.get_command(app)
    cases = []
    for name in group.list_commands(None):
        command = group.commands[name]
        cases.append(pytest.param([name, "--no-such-option"], id=f"{name} --no-such-option"))
        takes_args = any(p.param_type_name == "argument" for p in command.params)  # mask-demo, sweep: images
        cases.append(pytest.param([name, "extra", "arguments", "--json"] if not takes_args
                                  else [name, "--json", "--bogus"], id=f"{name} stray argument"))
        for param in command.params:
            opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
            if not opts or getattr(param, "is_flag", False) or param.param_type_name != "option":
                continue
            cases.append(pytest.param([name, opts[0]], id=f"{name} {opts[0]} (no value)"))
            kind = _kind(param)
            if kind == "int":
                cases.append(pytest.param([name, opts[0], "1.5"], id=f"{name} {opts[0]} 1.5"))
            if kind in ("int", "float"):
                cases.append(pytest.param([name, opts[0], "abc"], id=f"{name} {opts[0]} abc"))
    cases.append(pytest.param(["no-such-command"], id="unknown command"))
    cases.append(pytest.param(["--no-such-option"], id="unknown top-level option"))
    return cases


@pytest.mark.parametrize("args", _usage_cases())
def test_usage_errors_are_one_line_exit_2(cli, args):
    result = cli(*args)
    check(result, 2)
    assert "--help" in result.stderr  # where to look


def test_usage_error_wording(cli):
    assert cli("forward", "--batch", "1.5").stderr.strip() == (
        "error: --batch: '1.5' is not a whole number (e.g. 8); see `mae forward --help`")
    assert "is not a number" in cli("shapes", "--mask-ratio", "abc").stderr
    assert "the commands are: variants, params" in cli("no-such-command").stderr


def test_mae_alone_prints_the_help_and_exits_0(cli):
    result = cli()
    assert result.exit_code == 0 and "Commands" in result.stdout and result.stderr == ""


# --- class 9: --mask-ratio 0 --------------------------------------------------------------------------------

def test_forward_with_nothing_masked_has_no_loss_and_exits_0(cli_json):
    doc = cli_json("forward", "--variant", "base", "--mask-ratio", "0")
    assert doc["loss"] is None and "no masked patches" in doc["loss_note"] and doc["ok"] is True
    assert doc["masked_fraction"] == [0.0] and doc["num_visible"] == 196


def test_compare_official_with_nothing_masked_compares_every_other_stage(cli):
    result = cli("compare-official", "--variant", "base", "--batch", "1", "--mask-ratio", "0", "--json")
    check(result, 0, json_out=True)
    doc = json.loads(result.stdout)
    stages = {s["stage"]: s for s in doc["stages"]}
    assert doc["loss"] == {"ours": None, "reference": None}
    assert stages["loss"]["passed"] and "no masked patches" in stages["loss"]["detail"]
    assert stages["pred"]["max_abs"] is not None and stages["pred"]["passed"]
    assert doc["passed"] is True


# --- class 10: consistency -----------------------------------------------------------------------------------

def test_mask_demo_takes_image_as_an_option_too(cli_json, tmp_path, png):
    positional = cli_json("mask-demo", str(png), "--out", str(tmp_path / "a.png"))
    option = cli_json("mask-demo", "--image", str(png), "--out", str(tmp_path / "b.png"))
    assert positional["images"][0]["mask"] == option["images"][0]["mask"]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_help_lists_its_json_keys(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0
    if "--json" in result.stdout:
        assert "JSON (--json)" in result.stdout, f"`mae {name} --help` does not list its JSON keys"


def test_version_does_not_import_torch():
    code = ("import sys\nfrom mae_cli.app import main\nsys.argv = ['mae', '--version']\ntry:\n    main()\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=limits())
    assert proc.stdout.splitlines() == [proc.stdout.splitlines()[0], "False"], proc.stdout + proc.stderr
    assert proc.stdout.startswith("mae-inspect ")


@pytest.mark.parametrize("args", [["variants"], ["params"], ["shapes"], ["flops"], ["forward"]])
def test_tables_fit_80_columns(args):
    proc = mae(*args, env={"COLUMNS": "80"})
    assert_contract(proc.returncode, proc.stdout, proc.stderr, 0)
    for line in proc.stdout.splitlines() + proc.stderr.splitlines():
        assert len(line) <= 80, line


@pytest.mark.parametrize("variant", ["base", "large", "huge"])
def test_mask_demo_suggests_the_variants_own_checkpoint(variant):
    """Without --weights, the hint names the official picture checkpoint of the variant shown (building
    ViT-H only to read a note would cost seconds and gigabytes: the note's own function is asked)."""
    from mae_core.views.demo import weights_notes

    said = " ".join(weights_notes(None, None, 0, False, "default", variant))
    assert f"mae_visualize_vit_{variant}.pth" in said
    assert all(f"vit_{other}" not in said for other in {"base", "large", "huge"} - {variant})


SHARED_OPTIONS = ("--variant", "--weights", "--seed", "--batch", "--image", "--mask-ratio", "--norm-pix-loss",
                  "--device", "--json", "--debug", "--threads", "--warmup", "--official-src")


@pytest.mark.parametrize("path", sorted((ROOT / "mae_cli" / "commands").glob("*.py")), ids=lambda p: p.name)
def test_shared_options_are_defined_only_in_common(path):
    """One definition per concept (issue 13): a command uses VariantOpt, SeedOpt, ... from mae_cli.options."""
    import re

    text = path.read_text()
    for option in SHARED_OPTIONS:
        assert not re.search(rf"""typer\.(Option|Argument)\(\s*["']{option}["']""", text), (
            f"{path.name} defines {option} again; use the option type from mae_cli/options.py")


@pytest.mark.parametrize("name, module_name", COMMANDS)
def test_every_command_module_has_the_one_shape(name, module_name):
    """command (options) -> compute (checks + one call) -> render (tables); groups of sub-commands aside.
    (features, attention and numerics keep compute inside command for now: render is checked there.)"""
    import importlib

    import typer

    module = importlib.import_module(f"mae_cli.commands.{module_name}")
    if hasattr(module, "SUBCOMMANDS") or isinstance(module.command, typer.Typer):
        return
    assert callable(module.command), name
    if module_name == "download":  # landed with its own shape while this was written: left as it is
        return
    assert callable(module.render), name
    if module_name not in ("features", "attention", "numerics"):
        assert callable(module.compute), name


def test_a_listed_module_without_command_is_an_error(monkeypatch):
    import mae_cli.app as app_module

    monkeypatch.setattr(app_module, "COMMANDS", (*app_module.COMMANDS, ("broken", "__init__")))
    with pytest.raises(AttributeError, match="command"):
        app_module.build_app()


# --- class 11: $MAE_OFFICIAL_SRC ---------------------------------------------------------------------------

def _planted(tmp: Path, text: str | None) -> tuple[Path, Path]:
    folder = tmp / "not_the_official_repo"
    folder.mkdir()
    marker = tmp / "it_ran"
    if text is not None:
        (folder / "models_mae.py").write_text(text.replace("MARKER", str(marker)))
    return folder, marker


@pytest.mark.parametrize("text, words", [
    ("open('MARKER', 'w').write('ran')\n", ("MaskedAutoencoderViT", "nothing in it was run")),
    ("open('MARKER', 'w').write('ran')\n# class MaskedAutoencoderViT is mentioned only here\n",
     ("MaskedAutoencoderViT",)),
    (None, ("no models_mae.py",)),
])
def test_a_folder_that_is_not_the_official_repo_is_refused_unrun(cli, tmp_path, monkeypatch, text, words):
    folder, marker = _planted(tmp_path, text)
    monkeypatch.setenv("MAE_OFFICIAL_SRC", str(folder))
    check(cli("compare-official", "--batch", "1"), 2, words=words)
    assert not marker.exists()


def test_a_fifo_as_models_mae_is_refused_without_blocking(cli, tmp_path, monkeypatch):
    folder, _ = _planted(tmp_path, None)
    os.mkfifo(folder / "models_mae.py")
    monkeypatch.setenv("MAE_OFFICIAL_SRC", str(folder))
    start = time.perf_counter()
    check(cli("compare-official", "--batch", "1"), 2, words=("not a regular file",))
    assert time.perf_counter() - start < 5


def test_the_source_imported_is_said_on_stderr(cli, monkeypatch):
    monkeypatch.setenv("MAE_OFFICIAL_SRC", str(FIXTURE_SRC))
    result = cli("compare-official", "--variant", "base", "--batch", "1")
    check(result, 0)
    assert f"importing the official source '{FIXTURE_SRC}' (set by $MAE_OFFICIAL_SRC)" in result.stderr


# --- the property: any path string ------------------------------------------------------------------------

PATH_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=()), min_size=1, max_size=60)


@pytest.mark.parametrize("option", ["--image", "--weights"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=PATH_TEXT)
def test_any_missing_path_is_one_line_does_not_exist(cli, tmp_path, option, text):
    """Any text (brackets, control characters, lone surrogates) under a folder that does not exist."""
    path = f"{tmp_path}/absent/{text}"
    check(cli("forward", option, path), 2, words=("does not exist",))
