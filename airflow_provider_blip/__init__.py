"""Apache Airflow provider for Blip (Take Blip)."""

from __future__ import annotations

__version__ = "0.1.0"
