"""Continuous-integration projects: a repository named by its URL, kept per caller (projects are
seen by whoever made them, nobody else); and the checks of what a job clones, made before anything
reaches a robot: the repository URL, the branch and the commit or ref.

A repository URL names its scheme (https, http, git, ssh or file) or is ssh's ``user@host:path``;
it has no spaces or control characters and never starts with ``-`` (git would read it as an
option). ``file://`` URLs are taken here but cloned only by agents started with
``--allow-file-repos``. A branch is a git branch name and a ref a commit id or a ref name, neither
starting with ``-``."""

from __future__ import annotations

import builtins
import re

from fleetport.core import validate
from fleetport.core.errors import Invalid, NotFound
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import Row, utcnow
from fleetport.core.permissions import Principal
from fleetport.core.remote.model import CiProject
from fleetport.store import Store, Tx
from fleetport.store import remote as rq

URL_MAX = 2048
REF_MAX = 255
SCHEMES = ("https", "http", "git", "ssh", "file")
_SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9][A-Za-z0-9.-]*:[^-\s][^\s]*")  # git@host:owner/repo
_BRANCH = re.compile(r"[A-Za-z0-9._/+@=,-]+")
_REF = re.compile(r"[A-Za-z0-9._/+@=,~^-]+")


def repo_url(value: object) -> str:
    """A repository URL a job may clone, as given (stripped)."""
    if not isinstance(value, str):
        raise Invalid("repo_url must be the URL of a git repository (text)")
    url = validate.bounded_text(value.strip(), "repo_url", URL_MAX)
    if not url:
        raise Invalid("repo_url must be the URL of a git repository")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise Invalid("repo_url may not hold spaces or control characters (percent-encode them)")
    if url.startswith("-"):
        raise Invalid("repo_url may not start with '-': git would read it as an option")
    scheme, sep, rest = url.partition("://")
    if sep:
        if scheme.lower() not in SCHEMES:
            raise Invalid(f"repo_url's scheme must be one of {', '.join(SCHEMES)}; got {scheme[:20]!r}")
        if not rest or rest.startswith("-"):
            raise Invalid("repo_url names no host or path, or one starting with '-'")
        return url
    if _SCP_LIKE.fullmatch(url):
        return url
    raise Invalid(
        "repo_url must be a URL with scheme https, http, git, ssh or file "
        "(like https://example.com/rovers.git), or user@host:path"
    )


def branch_name(value: object) -> str:
    """A git branch name: letters, digits and ``. _ / + @ = , -``, no leading ``-``, no ``..``."""
    if not isinstance(value, str):
        raise Invalid("branch must be the name of a branch (text)")
    validate.bounded_text(value, "branch", REF_MAX)
    if not value:
        raise Invalid("branch must name the branch to clone")
    if value.startswith("-"):
        raise Invalid("branch may not start with '-': git would read it as an option")
    if not _BRANCH.fullmatch(value) or not _ref_shape(value):
        raise Invalid(
            f"branch {value[:100]!r} is not a git branch name (letters, digits and . _ / + @ = , -; "
            "no '..', no part starting with '.', not ending with '/', '.' or '.lock')"
        )
    return value


def revision(value: object) -> str:
    """A commit id or ref name to check out ("" or None: the branch's tip)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Invalid("commit must be a commit id or a ref name (text)")
    validate.bounded_text(value, "commit", REF_MAX)
    if value.startswith("-"):
        raise Invalid("commit may not start with '-': git would read it as an option")
    if not _REF.fullmatch(value) or not _ref_shape(value):
        raise Invalid(f"commit {value[:100]!r} is not a commit id or a ref name")
    return value


def _ref_shape(value: str) -> bool:
    return not (
        ".." in value
        or "@{" in value
        or "//" in value
        or value == "@"
        or value.endswith(("/", ".", ".lock"))
        or any(part.startswith(".") for part in value.split("/"))
    )


def owned_project(conn: Tx, p: Principal, project_id: str) -> Row:
    """The project, if ``p`` made it; to anyone else it does not exist."""
    found = (
        rq.ci_project(conn, project_id.lower())
        if isinstance(project_id, str) and is_uuid(project_id)
        else None
    )
    if found is None or found["owner_id"] != p.id:
        shown = project_id[:100] if isinstance(project_id, str) else "?"
        raise NotFound(f"no CI project {shown!r}")
    return found


class CiProjects:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, p: Principal, repo_url_: str) -> CiProject:
        row = {"id": new_id(), "owner_id": p.id, "repo_url": repo_url(repo_url_), "created_at": utcnow()}
        with self.store.write() as conn:
            rq.insert_ci_project(conn, row)
        return CiProject.from_row(row)

    def list(self, p: Principal) -> builtins.list[CiProject]:
        with self.store.read() as conn:
            return [CiProject.from_row(r) for r in rq.ci_projects_of(conn, p.id)]

    def get(self, p: Principal, project_id: str) -> CiProject:
        with self.store.read() as conn:
            return CiProject.from_row(owned_project(conn, p, project_id))
