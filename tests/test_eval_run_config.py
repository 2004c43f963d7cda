"""A run folder whose config.json is malformed, empty or incomplete is refused naming the file."""

from __future__ import annotations

import pytest

from navfusion.cli import main


@pytest.mark.parametrize("content, match", [
    ("", "not valid JSON"),
    ("{not json", "not valid JSON"),
    ("{}", "needs the mappings 'agent' and 'train'"),
    ('{"agent": {"kind": "random"}, "train": {}}', "with 'env' and 'iterations'"),
    ("[1, 2]", "needs the mappings"),
])
def test_evaluate_bad_run_config_names_the_file(tmp_path, capsys, content, match):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(content)
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert match in err and "config.json" in err and "Traceback" not in err and "KeyError" not in err
