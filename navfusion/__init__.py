"""navfusion: situational fusion of visual representations for visual navigation."""

__version__ = "0.1.0"

from navfusion.nav.registration import register_envs as _register_envs

_register_envs()
