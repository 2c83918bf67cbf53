"""The `sigap` command as a newcomer meets it: a configuration error is one line and exit 2, the
shell's chat is not mixed with log lines, `sigap ready` tells whether the servers answer, and
several web processes are refused where they could not share state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.settings import Settings
from tests.conftest import free_port


def _sigap(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=environment, timeout=180, check=False)


def test_a_configuration_error_is_one_line_and_exit_2(models_dir: Path, tmp_path: Path) -> None:
    done = _sigap("serve", "--port", str(free_port()), TELEGRAM_BOT_TOKEN="123:abc",
                  TELEGRAM_WEBHOOK_SECRET="", MODELS_DIR=str(models_dir),
                  DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "sigap: configuration error: TELEGRAM_BOT_TOKEN needs TELEGRAM_WEBHOOK_SECRET for the webhook; when "
        "`sigap telegram poll` takes the updates instead, leave the token unset for `sigap serve`"]
    assert "Traceback" not in done.stderr


def test_the_shell_prints_the_chat_and_no_info_lines(models_dir: Path, tmp_path: Path) -> None:
    done = _sigap("shell", stdin="halo\n", MODELS_DIR=str(models_dir),
                  DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}")
    assert done.returncode == 0, done.stderr
    assert "112: Halo, ini layanan darurat 112." in done.stdout
    assert " INFO " not in done.stdout + done.stderr


def test_ready_answers_for_the_servers(settings: Settings) -> None:
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url or ""}
    assert _sigap("ready", **env).returncode == 0
    down = _sigap("ready", **{**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert down.returncode == 1 and "redis" in down.stderr


def test_several_web_processes_need_postgresql_and_redis(models_dir: Path, tmp_path: Path) -> None:
    done = _sigap("serve", "--workers", "2", "--port", str(free_port()), MODELS_DIR=str(models_dir),
                  DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}", REDIS_URL="")
    assert done.returncode == 2 and "--workers above 1 needs PostgreSQL" in done.stderr
