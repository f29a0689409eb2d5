#!/usr/bin/env python
"""Django's command-line utility for Callscope.

Management commands are the developer's entry point: when no ``SECRET_KEY`` is configured they
run with ``DEBUG`` on (the embedded defaults), so ``./manage.py create_api_key demo`` works on a
laptop. The web entry point (``config.wsgi``) never does this: production must set ``SECRET_KEY``.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not os.environ.get("SECRET_KEY"):
        os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
