"""The bots folder and path validation: nothing svc_archive reads, writes or deletes leaves it.

    bots/instances/<bot>/            live bot folders (data/<db>.sqlite, conf, logs)
    bots/archived/<bot>/             archived folders, readable like hummingbot-api's archive_locally
    bots/archived/<id>.tar.gz        local archives, with <id>.manifest.json next to them
    bots/data/checkpoint_<n>.sqlite  checkpoints (hummingbot-api's name and place)

Database paths are shown as hummingbot-api shows them, `bots/archived/<bot>/data/<file>.sqlite`, and are
accepted with or without the leading `bots/`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from shared.errors import BadRequest, Invalid, NotFound

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
DB_SUFFIXES = (".sqlite", ".db", ".sqlite3")


def check_name(name: str, what: str = "name") -> str:
    """A single path segment: letters, digits, '_' and '-' only (no '.', '/', '..', nothing absolute)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise Invalid(f"invalid {what} '{name}': use letters, digits, '_' and '-' (1-128 characters)")
    return name


class BotsFolder:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.instances = self.root / "instances"
        self.archived = self.root / "archived"
        self.data = self.root / "data"
        self.staging = self.archived / ".staging"

    def ensure(self) -> None:
        for d in (self.instances, self.archived, self.data, self.staging):
            d.mkdir(parents=True, exist_ok=True)

    # -- named folders --------------------------------------------------------------------------
    def instance_dir(self, bot_name: str) -> Path:
        return self.instances / check_name(bot_name, "bot name")

    def archived_dir(self, name: str) -> Path:
        return self.archived / check_name(name, "archive name")

    def checkpoint_file(self, name: str) -> Path:
        return self.data / f"checkpoint_{check_name(name, 'checkpoint name')}.sqlite"

    def display(self, path: Path) -> str:
        """bots/<relative path>, as hummingbot-api lists databases."""
        return str(PurePosixPath("bots", *Path(path).resolve().relative_to(self.root).parts))

    def inside(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return os.path.commonpath([str(self.root), real]) == str(self.root)

    # -- database paths from requests -----------------------------------------------------------
    def resolve_db(self, db_path: str, *, under: str | None = None) -> Path:
        """A database file named by a request, refused unless it resolves (symlinks too) inside the bots
        folder (and inside bots/<under> when given)."""
        if not db_path or "\x00" in db_path or "\\" in db_path:
            raise BadRequest(f"invalid database path '{db_path}'")
        if db_path.startswith("/") or re.match(r"^[A-Za-z]:", db_path):
            raise BadRequest(f"database path '{db_path}' must be relative to the bots folder, not absolute")
        if any(seg in ("..", ".", "") for seg in db_path.split("/")):
            raise BadRequest(f"database path '{db_path}' may not contain '.', '..' or empty segments")
        parts = PurePosixPath(db_path).parts
        if parts[0] == "bots":
            parts = parts[1:]
        if not parts:
            raise BadRequest(f"database path '{db_path}' names no file")
        if not parts[-1].endswith(DB_SUFFIXES):
            raise BadRequest(f"database path '{db_path}' is not a SQLite file (.sqlite, .db)")
        base = self.root / under if under else self.root
        path = self.root.joinpath(*parts)
        real = os.path.realpath(path)
        if os.path.commonpath([str(base.resolve()), real]) != str(base.resolve()):
            where = f"bots/{under}" if under else "the bots folder"
            raise BadRequest(f"database path '{db_path}' is outside {where}")
        if not os.path.isfile(real):
            raise NotFound(f"database '{db_path}' not found")
        return Path(real)

    def archived_bot_of(self, db: Path) -> Path:
        """bots/archived/<bot> holding a database file (hummingbot-api: archived/<bot>/data/<file>)."""
        rel = db.relative_to(self.root).parts
        if len(rel) < 3 or rel[0] != "archived" or rel[1].startswith("."):
            raise BadRequest(f"'{self.display(db)}' is not inside an archived bot folder")
        return self.archived / rel[1]

    # -- listings ---------------------------------------------------------------------------------
    def list_databases(self, scope: str = "all") -> list[str]:
        """SQLite files under <archived|instances>/<bot>/data/, sorted, as bots/... paths."""
        roots = {"archived": [self.archived], "instances": [self.instances],
                 "all": [self.archived, self.instances]}[scope]
        out: list[str] = []
        for top in roots:
            if not top.is_dir():
                continue
            for bot in sorted(top.iterdir()):
                data = bot / "data"
                if bot.name.startswith(".") or not bot.is_dir() or bot.is_symlink() or not data.is_dir():
                    continue
                for f in sorted(data.iterdir()):
                    if f.is_file() and f.name.endswith(DB_SUFFIXES) and self.inside(f):
                        out.append(self.display(f))
        return out
