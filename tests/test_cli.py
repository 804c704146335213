"""`otkit bench` and `otkit gan` command-line errors: `otkit <cmd>: error: ...` on stderr, exit status 2, no
traceback, flag names as typed; the default output folders; `python -m otkit`; no links to files outside
the repository."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from otkit import cli as otkit_cli
from otkit._cli_common import CLIError, check_out_dir

from conftest import child_env

REPO = Path(__file__).resolve().parents[1]


def _env():
    return child_env()


def _bad_out(kind, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    return str(f) if kind == "file" else str(f / "sub")  # under a file: cannot be created, even by root


# --- the shared output-folder check -------------------------------------------------------------------

def test_check_out_dir(tmp_path):
    p = check_out_dir(tmp_path / "a" / "b")
    assert p.is_dir() and list(p.iterdir()) == []  # created, and the write probe is removed
    with pytest.raises(CLIError, match=r"--out '.*a_file' is an existing file, not a folder"):
        check_out_dir(_bad_out("file", tmp_path))
    with pytest.raises(CLIError, match="cannot be written: Not a directory"):
        check_out_dir(_bad_out("under-file", tmp_path))
    assert issubclass(CLIError, ValueError)


# --- otkit bench --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, msg", [("file", "is an existing file, not a folder"),
                                       ("under-file", "cannot be written")])
@pytest.mark.parametrize("sub", [[], ["batch"], ["bandwidth"], ["knn"]])
def test_bench_bad_out(kind, msg, sub, tmp_path, capsys):
    pytest.importorskip("ot")
    out = _bad_out(kind, tmp_path)
    rc = otkit_cli.main(["bench"] + sub + ["--out", out, "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith(f"otkit bench{' ' + sub[0] if sub else ''}: error: --out ")
    assert msg in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing was written


def test_bench_knn_train_sizes(tmp_path, capsys):
    rc = otkit_cli.main(["bench", "knn", "--n", "30", "--train-sizes", "30,40", "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "otkit bench knn: error: every --train-sizes value must be < --n (30)" in err
    assert not (tmp_path / "o").exists()  # checked before the output folder is made


@pytest.mark.parametrize("argv, flag", [
    (["--repeat", "0"], "--repeat"), (["--budget", "-1"], "--budget"), (["--stop-thr", "nan"], "--stop-thr"),
    (["--threads", "-1"], "--threads"), (["--bandwidth-d", "x"], "--bandwidth-d"),
    (["batch", "--n", "0"], "--n"), (["knn", "--folds", "0"], "--folds"), (["knn", "--n", "5"], "--n"),
])
def test_bench_messages_name_the_flag(argv, flag, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        otkit_cli.main(["bench", "--out", str(tmp_path)] + argv)
    assert e.value.code == 2
    msg = capsys.readouterr().err.split(": error: ", 1)[1]
    assert msg.startswith(f"argument {flag}: ")
    assert msg.count(flag) == 1  # argparse names the flag; the message does not repeat it


def test_bench_help_documents_default_out(capsys):
    with pytest.raises(SystemExit) as e:
        otkit_cli.main(["bench", "--help"])
    assert e.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default: ./otkit-bench in the current folder" in help_text


# --- otkit gan ----------------------------------------------------------------------------------------

torch_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="otkit gan needs torch")

TINY = ["--data", "ring8", "--steps", "2", "--eval-n", "20", "--batch", "16", "--inner", "1", "--no-progress",
        "--no-plots"]


@torch_missing
@pytest.mark.parametrize("kind, msg", [("file", "is an existing file, not a folder"),
                                       ("under-file", "cannot be written")])
def test_gan_bad_out(kind, msg, tmp_path, capsys):
    rc = otkit_cli.main(["gan", "--out", _bad_out(kind, tmp_path)] + TINY)
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("otkit gan: error: --out ") and msg in err and "Traceback" not in err


@torch_missing
def test_gan_resume_without_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    rc = otkit_cli.main(["gan", "--out", str(out), "--resume"] + TINY)
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("otkit gan: error: --resume: there is no checkpoint to continue from")
    assert str(out / "checkpoint.pt") in err
    assert not out.exists()  # nothing was started
    out.mkdir()  # an existing folder without a checkpoint: the same
    assert otkit_cli.main(["gan", "--out", str(out), "--resume"] + TINY) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert list(out.iterdir()) == []


@torch_missing
def test_gan_resume_incompatible_checkpoint(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert otkit_cli.main(["gan", "--out", out] + TINY) == 0
    capsys.readouterr()
    other = [a if a != "ring8" else "grid25" for a in TINY]
    assert otkit_cli.main(["gan", "--out", out, "--resume"] + other) == 2
    err = capsys.readouterr().err
    assert err.startswith("otkit gan: error: --resume: ") and "'ring8'" in err and "'grid25'" in err
    Path(out, "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert otkit_cli.main(["gan", "--out", out, "--resume"] + TINY) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "Traceback" not in err


@torch_missing
def test_train_api_resume_errors(tmp_path):
    from otkit.proximal import ResumeError, train

    with pytest.raises(FileNotFoundError, match="no checkpoint to continue from"):
        train(out=str(tmp_path / "x"), resume=True, steps=1, progress=False, plots=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="resume=True needs out"):
        train(resume=True, steps=1, progress=False, plots=False)
    assert issubclass(ResumeError, ValueError)


INTERNAL = ("inner_steps", "eval_n", "d_lr", "n_critic", "eval_every", "ckpt_every", "time_budget")


@torch_missing
@pytest.mark.parametrize("argv, flag", [
    (["--inner", "0"], "--inner"), (["--eval-n", "5"], "--eval-n"), (["--d-lr", "0"], "--d-lr"),
    (["--lr", "nan"], "--lr"), (["--n-critic", "0"], "--n-critic"), (["--eval-every", "0"], "--eval-every"),
    (["--ckpt-every", "-2"], "--ckpt-every"), (["--time-budget", "0"], "--time-budget"),
    (["--batch", "0"], "--batch"), (["--steps", "0"], "--steps"), (["--threads", "0"], "--threads"),
    (["--reg", "-1"], "--reg"), (["--h", "-1"], "--h"), (["--h", "abc"], "--h"), (["--inner", "2.5"], "--inner"),
])
def test_gan_messages_name_the_flag(argv, flag, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        otkit_cli.main(["gan", "--out", str(tmp_path / "o")] + argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"otkit gan: error: argument {flag}: " in err
    assert not any(name in err for name in INTERNAL), err
    assert not (tmp_path / "o").exists()


@torch_missing
def test_gan_reg_needs_sinkhorn(tmp_path, capsys):
    rc = otkit_cli.main(["gan", "--out", str(tmp_path / "o"), "--prox", "relaxed", "--reg", "0.1"] + TINY)
    assert rc == 2
    assert "otkit gan: error: --reg applies to --prox sinkhorn only" in capsys.readouterr().err


@torch_missing
@pytest.mark.parametrize("field, value, flag", [
    ("inner", 0, "--inner"), ("eval_n", 3, "--eval-n"), ("d_lr", -1.0, "--d-lr"), ("n_critic", 0, "--n-critic"),
    ("eval_every", 0, "--eval-every"), ("ckpt_every", 0, "--ckpt-every"), ("time_budget", 0.0, "--time-budget"),
    ("threads", 0, "--threads"), ("reg", 0.0, "--reg"), ("h", 0.0, "--h"), ("lr", 0.0, "--lr"),
])
def test_gan_config_messages_translate(field, value, flag):
    """The Python API names its arguments; the CLI's backstop (TrainConfig.validate) translates to flags."""
    from otkit.proximal.cli import flag_message
    from otkit.proximal.trainer import TrainConfig

    with pytest.raises(ValueError) as e:
        TrainConfig(**{field: value}).validate()
    msg = flag_message(e.value)
    assert msg.startswith(f"{flag} must be"), msg
    assert not any(name in msg for name in INTERNAL)


@torch_missing
def test_gan_help_documents_default_out(capsys):
    with pytest.raises(SystemExit) as e:
        otkit_cli.main(["gan", "--help"])
    assert e.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"default: ./{os.path.join('runs', 'gan')} in the current folder" in help_text
    assert "an error when there is none" in help_text  # --resume


# --- python -m otkit, as a user runs it ---------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["bench", "gan"])
def test_python_m_otkit_bad_out_no_traceback(cmd, tmp_path):
    if cmd == "gan":
        pytest.importorskip("torch")
    f = tmp_path / "a_file"
    f.write_text("x")
    r = subprocess.run([sys.executable, "-m", "otkit", cmd, "--out", str(f), "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip() == f"otkit {cmd}: error: --out {str(f)!r} is an existing file, not a folder"
    assert r.stdout == ""


# --- repository hygiene -------------------------------------------------------------------------------

def test_default_output_folders_are_git_ignored():
    gi = REPO / ".gitignore"
    if not gi.exists():
        pytest.skip("not a source checkout")
    lines = {ln.strip() for ln in gi.read_text().splitlines()}
    assert "otkit-bench/" in lines
    assert "runs/" in lines  # otkit gan's default runs/gan
    from otkit.proximal.cli import DEFAULT_OUT

    assert Path(DEFAULT_OUT).parts[0] == "runs"


def test_no_links_outside_the_repository():
    """Docs and docstrings point at files in the repository, not at ../shared/... (not shipped)."""
    if not (REPO / "docs").is_dir():
        pytest.skip("not a source checkout")
    files = [REPO / "README.md"] + [p for d in ("docs", "otkit", "benchmarks") for p in (REPO / d).rglob("*")
                                    if p.suffix in (".md", ".py")]
    bad = []
    for p in files:
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"shared/|BENCHMARKS\.md|DESIGN\.md", line):
                bad.append(f"{p.relative_to(REPO)}:{i}: {line.strip()}")
    assert bad == []
