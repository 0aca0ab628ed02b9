"""What the agent checks before a CI job reaches git or the shell: the repository URL, branch and
commit (file:// only when allowed), and the job file .fleetport-ci.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetport.agent.ci import JOB_FILE, JobRefused, check_source, read_job_file


def test_sources_git_must_not_be_given_are_refused() -> None:
    check_source("https://example.com/r.git", "main", "", allow_file=False)
    check_source("git@example.com:rovers/r.git", "feature/x", "a" * 40, allow_file=False)
    check_source("file:///srv/r.git", "main", "", allow_file=True)
    refused = [
        ("file:///srv/r.git", "main", "", "--allow-file-repos"),
        ("--upload-pack=touch /tmp/x", "main", "", "leading '-'"),
        ("ext::sh -c touch% /tmp/x", "main", "", "refused"),
        ("https://example.com/r.git", "--upload-pack=x", "", "leading '-'"),
        ("https://example.com/r.git", "main", "-x", "leading '-'"),
        ("https://example.com/r.git", "ma\nin", "", "control characters"),
        ("https://example.com/r.git", "", "", "no branch"),
        ("ftp://example.com/r.git", "main", "", "not allowed"),
        ("/srv/r.git", "main", "", "not one this agent clones"),
    ]
    for url, branch, ref, says in refused:
        with pytest.raises(JobRefused, match=says):
            check_source(url, branch, ref, allow_file=False)


def test_the_job_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / JOB_FILE
    with pytest.raises(JobRefused, match=r"has no \.fleetport-ci\.toml"):
        read_job_file(tmp_path)
    path.write_text('workspace = "fixed_misty2"\nscript = ["make test", "./drive.sh"]\n')
    spec = read_job_file(tmp_path)
    assert spec.workspace == "fixed_misty2" and spec.script == ["make test", "./drive.sh"]
    path.write_text('script = ["make"]\n')
    assert read_job_file(tmp_path).workspace is None
    for text, says in (
        ("script = [", "not valid TOML"),
        ('script = ["ok"]\nimage = "x"\n', "unknown keys"),
        ("script = []\n", "list of 1 to 100"),
        ('script = "make"\n', "list of 1 to 100"),
        ('script = ["a\\u0000b"]\n', "list of 1 to 100"),
        ('workspace = "no such/type"\nscript = ["x"]\n', "workspace type"),
    ):
        path.write_text(text)
        with pytest.raises(JobRefused, match=says):
            read_job_file(tmp_path)
    path.unlink()
    secret = tmp_path / "secret.toml"
    secret.write_text('script = ["cat /etc/passwd"]\n')
    path.symlink_to(secret)
    with pytest.raises(JobRefused, match="not a regular file"):
        read_job_file(tmp_path)
