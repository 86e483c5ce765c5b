"""Conventions every ``rightsizer`` command shares: --version, help without a command, one output flag
whose json/yaml/csv output parses back, and shell completion generated from the parser."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from importlib.metadata import version

import pytest
import yaml

from recommender.cli import main


def test_version_is_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"rightsizer {version('rightsizer')}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: rightsizer" in err and "recommend" in err and "completion" in err


def _parse(fmt: str, text: str):
    if fmt == "json":
        return json.loads(text)
    if fmt == "yaml":
        return yaml.safe_load(text)
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("flag", [["-o", "json"], ["--output", "yaml"], ["-o", "csv"], ["--json"]])
def test_validate_output_formats_parse_back(small_dataset, capsys, flag):
    assert main(["validate", "--data", str(small_dataset), *flag]) == 0
    fmt = "json" if flag == ["--json"] else flag[1]
    doc = _parse(fmt, capsys.readouterr().out)
    if fmt == "csv":  # one field,value row per dotted field of the same document
        fields = {r["field"]: r["value"] for r in doc}
        assert fields["uri"].endswith("data") and int(fields["workloads"]) > 0
        assert {f.split(".")[0] for f in fields} >= {"tables", "gpu_models", "nodes"}
    else:
        assert doc["workloads"] > 0 and {t["table"] for t in doc["tables"]} >= {"gpu", "pods", "nodes"}


@pytest.mark.parametrize("fmt", ["json", "yaml", "csv"])
def test_recommend_summary_formats_parse_back(small_dataset, tmp_path, capsys, fmt):
    out = tmp_path / "report"
    assert main(["recommend", "--data", str(small_dataset), "--out", str(out), "--no-consolidate", "--top", "3",
                 "-o", fmt]) == 0
    captured = capsys.readouterr()
    printed = _parse(fmt, captured.out)
    written = json.loads((out / "recommendations.json").read_text())
    expected_ids = [r["id"] for r in written["recommendations"][:3]]
    if fmt == "csv":
        assert [r["id"] for r in printed] == expected_ids
        assert float(printed[0]["monthly_savings"]) == written["recommendations"][0]["monthly_savings"]
    else:
        assert [r["id"] for r in printed["top"]] == expected_ids
        assert printed["summary"]["monthly_savings"] == written["summary"]["monthly_savings"]
        assert str(out / "recommendations.json") in printed["written"]
    # not a terminal: progress is one line per stage on stderr, nothing of it on stdout
    stages = captured.err.strip().splitlines()
    assert any(s.startswith("profiling workloads and containers") for s in stages) and "deciding" in stages


def test_recommend_no_progress_is_silent(small_dataset, tmp_path, capsys):
    assert main(["recommend", "--data", str(small_dataset), "--out", str(tmp_path / "r"), "--no-consolidate",
                 "--no-progress", "-o", "json"]) == 0
    assert capsys.readouterr().err == ""


def _complete(script: str, line: str) -> list[str]:
    """What bash's completion function offers for ``line`` (the cursor at its end)."""
    program = f"""
source {script}
read -ra COMP_WORDS <<< {line!r}
{'COMP_WORDS+=("")' if line.endswith(" ") else ''}
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
complete -p rightsizer >/dev/null || exit 7
_rightsizer
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completion_offers_subcommands_flags_and_choices(tmp_path, capsys):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "rightsizer.bash"
    script.write_text(capsys.readouterr().out)
    assert _complete(script, "rightsizer rec") == ["recommend"]
    assert set(_complete(script, "rightsizer catalog ")) >= {"show", "refresh"}
    assert "--entity" in _complete(script, "rightsizer profile --e")
    assert _complete(script, "rightsizer profile --data ./d --entity g") == ["gpu"]
    assert _complete(script, "rightsizer catalog show -o ") == ["table", "json", "yaml", "csv"]
    # a flag's value is not taken for a subcommand: "demo" here is a folder given to --data
    assert "--top" in _complete(script, "rightsizer recommend --data demo --t")
    # compgen agrees with the function on the top level
    top = subprocess.run(["bash", "-c", f"source {script}; compgen -W \"$(_rightsizer_words '')\" -- v"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert top == ["validate"]


def test_zsh_completion_is_a_compdef_script(capsys):
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef rightsizer\n") and "compadd" in script and "'catalog show'" in script


def test_completion_rejects_an_unknown_shell(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["completion", "fish"])
    assert exit_.value.code == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err
