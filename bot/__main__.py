"""`python -m bot` is the `sigap` command."""

from bot.cli import main

raise SystemExit(main())
