"""Route groups; each module maps hummingbot-api's paths onto one service's commands and exposes `router`.
Groups are found by module, so a service's routes are wired as soon as its module lands."""

import importlib
import pkgutil

GROUPS = [importlib.import_module(f"{__name__}.{m.name}").router
          for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: (m.name != "system", m.name))]
