"""The registry check every template-sending operator runs first, before any lookup or send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_blip.exceptions import BlipCommandError, BlipConfigError
from airflow_provider_blip.utils.registry import check_spec

if TYPE_CHECKING:
    from airflow_provider_blip.hooks.blip import BlipHook
    from airflow_provider_blip.utils.templates import TemplateSpec


def checked_spec(
    operator: Any, hook: BlipHook, spec: TemplateSpec, *, enabled: bool, fail_on_recategorized: bool
) -> TemplateSpec:
    """Check ``spec`` against the bot's approved templates; return it ready to render.

    A mismatch raises :class:`BlipConfigError` (the task fails without retry): one read of the
    registry is all it costs. ``enabled=False`` skips the check, for a key that cannot read it.

    :param operator: the calling operator, for its log.
    """
    if not enabled:
        operator.log.info("check_template=False: template %r is sent without the registry check", spec.name)
        return spec
    try:
        registry = hook.list_templates(name=spec.name)
    except BlipCommandError as exc:
        raise BlipConfigError(
            f"could not read the bot's template registry to check template {spec.name!r}: {exc}. "
            "Nothing was looked up or sent; set check_template=False if this bot's key cannot read it"
        ) from exc
    result = check_spec(spec, registry, fail_on_recategorized=fail_on_recategorized)
    for warning in result.warnings:
        operator.log.warning("%s", warning)
    template = result.template
    operator.log.info(
        "Template %r (%s) is APPROVED (%s) and matches the DAG",
        template.name,
        template.language,
        template.category,
    )
    return result.spec
