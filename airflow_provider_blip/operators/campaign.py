"""Blip's own bulk route: send the split audience as Active Campaigns (Blip does the fan-out).

``BlipCampaignOperator`` reads the chunk files of
:class:`~airflow_provider_blip.operators.notify.BlipSplitAudienceOperator` (numbers already
parsed and deduplicated there), renders each row's body parameters, cuts the audience into
campaigns of ``campaign_size`` and creates each with one ``set /campaign/full``. Blip then looks
every number up, sends the template and moves the user in the flow itself.

Each campaign's name comes from the job (its DAG, its key, this task) and its part number,
and every name is looked up before anything is created: a retry, a cleared task or a new run
of the same logical date finds the campaigns it already made and creates none twice.

.. seealso:: docs/campaigns.md
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_blip.exceptions import BlipConfigError, TemplateValueError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.jobs.registry import checked_spec
from airflow_provider_blip.utils import campaigns, runfiles
from airflow_provider_blip.utils.ids import command_id
from airflow_provider_blip.utils.jobs import RunLayout
from airflow_provider_blip.utils.refs import is_chunk_ref
from airflow_provider_blip.utils.results import RecipientStatus
from airflow_provider_blip.utils.templates import TEMPLATE_ARGS, render_content, spec_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_blip.utils.templates import TemplateSpec

#: Recipients per campaign unless ``campaign_size`` says otherwise. Blip documents no limit per
#: command; 500 keeps one command's body near 60 KB and a refused command cheap to redo.
DEFAULT_CAMPAIGN_SIZE = 500


def campaign_name(dag_id: str, job: str, task_id: str, part: int) -> str:
    """Return the name of part ``part`` of a job's campaigns: the same for every re-run of the job."""
    return f"airflow-{command_id('campaign', dag_id, job, task_id)}-part-{part:04d}"


class BlipCampaignOperator(BaseOperator):
    """Create one Active Campaign per ``campaign_size`` recipients of a split audience.

    Rows the split rejected (invalid number, duplicate, missing value) and rows whose values
    WhatsApp would refuse are not sent and keep their status; each campaign's recipients
    are written to a file next to the job's other results (``status`` ``sent``: handed to
    Blip). Only body parameters are supported: Blip's campaign payload has no confirmed place
    for header media or button parameters, so ``header`` and ``buttons`` are refused.

    .. seealso:: docs/campaigns.md

    :param chunks: the split's output (``[{"chunk": uri, ...}, ...]``). (templated)
    :param template_name: the approved template's name. (templated)
    :param language: its language code, e.g. ``pt_BR``. (templated)
    :param body: body parameters in order: literals or ``{"column": name}``. (templated)
    :param body_columns: the columns that fill ``{{1}}``, ``{{2}}``... (templated)
    :param flow_id: the Builder flow the users land in. (templated)
    :param state_id: the block they land on. (templated)
    :param master_state: the router's sub-bot (``x@msging.net``), when there is one. (templated)
    :param campaign_size: recipients per campaign (default :data:`DEFAULT_CAMPAIGN_SIZE`). (templated)
    :param check_template: before any campaign is created, check the template against the
        bot's approved templates (one registry read); ``False`` for a key that cannot read it.
    :param fail_on_recategorized: fail, instead of warning, when Meta re-categorised the template.
    :param blip_conn_id: the Blip connection. (templated)
    :return: one ``{"part", "campaign_id", "name", "rows": uri, "recipients", "counts"}`` per
        campaign: ids and counts, no phone number.
    """

    template_fields = (
        "chunks",
        *TEMPLATE_ARGS,
        "flow_id",
        "state_id",
        "master_state",
        "campaign_size",
        "blip_conn_id",
    )
    ui_color = "#C9F0FF"

    def __init__(
        self,
        *,
        chunks: Any,
        template_name: str,
        flow_id: str,
        state_id: str,
        language: str = "pt_BR",
        body: list[Any] | None = None,
        body_columns: list[str] | str | None = None,  # str: a Jinja template rendering to a list
        master_state: str | None = None,
        campaign_size: int | str = DEFAULT_CAMPAIGN_SIZE,
        blip_conn_id: str = BlipHook.default_conn_name,
        policy: str = "deterministic",
        namespace: str | None = None,
        header: dict[str, Any] | None = None,
        buttons: list[dict[str, Any]] | None = None,
        check_template: bool = True,
        fail_on_recategorized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check_template = check_template
        self.fail_on_recategorized = fail_on_recategorized
        if not isinstance(campaign_size, str):  # a template is checked once rendered
            _size(campaign_size)
        self.chunks = chunks
        self.template_name = template_name
        self.language = language
        self.policy = policy
        self.namespace = namespace
        self.header = header
        self.body = body
        self.body_columns = body_columns
        self.buttons = buttons
        self.flow_id = flow_id
        self.state_id = state_id
        self.master_state = master_state
        self.campaign_size = campaign_size
        self.blip_conn_id = blip_conn_id

    @cached_property
    def hook(self) -> BlipHook:
        """The task's hook (built on first use)."""
        return BlipHook(self.blip_conn_id)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        spec = self._spec()
        refs = _chunk_refs(self.chunks)
        if not refs:
            self.log.warning("Blip campaign: the split gave no chunks; nothing to send")
            return []
        layout = RunLayout.of_chunk(runfiles.storage_path(refs[0]))
        ti = context["ti"]
        rejected, recipients = _read(refs, spec)
        size = _size(self.campaign_size)
        parts = campaigns.parts(recipients, size) or [[]]
        files = [
            self._write_part(layout, ti.task_id, n, part, rejected if n == 0 else [])
            for n, part in enumerate(parts)
        ]
        # Every name, looked up once before anything is created: a re-run finds what it made.
        existing = {c.name: c.id for c in self.hook.iter_campaigns()} if recipients else {}
        outputs = []
        for n, (part, path) in enumerate(zip(parts, files, strict=True)):
            name = campaign_name(ti.dag_id, layout.directory.name, ti.task_id, n)
            campaign_id = existing.get(name) or (self._create(name, part) if part else None)
            if name in existing:
                self.log.info(
                    "Blip campaign part %d: %s already exists (%s); not created again", n, name, campaign_id
                )
            counts = Counter(str(r["status"]) for r in runfiles.read_jsonl(path))
            outputs.append(
                {
                    "part": n,
                    "campaign_id": campaign_id,
                    "name": name,
                    "rows": str(path),
                    "recipients": len(part),
                    "counts": dict(sorted(counts.items())),
                }
            )
        self.log.info(
            "Blip campaign: %d recipients in %d campaigns of up to %d; %d rows not sent",
            len(recipients),
            sum(1 for o in outputs if o["campaign_id"]),
            size,
            len(rejected),
        )
        return outputs

    def _spec(self) -> TemplateSpec:
        if self.header or self.buttons:
            raise BlipConfigError(
                "Active Campaign takes body parameters only: header media and button parameters "
                "have no confirmed place in its payload (docs/campaigns.md); use the per-recipient job"
            )
        if not self.flow_id or not self.state_id:
            raise BlipConfigError("a campaign needs flow_id and state_id: Blip moves every recipient there")
        # Before anything is created: a campaign of a mismatched template would fail whole.
        return checked_spec(
            self,
            self.hook,
            spec_of(self),
            enabled=self.check_template,
            fail_on_recategorized=self.fail_on_recategorized,
        )

    def _create(self, name: str, part: Sequence[dict[str, Any]]) -> str:
        draft = campaigns.CampaignDraft(
            name=name,
            template=self.template_name,
            language=self.language,
            recipients=tuple(campaigns.CampaignRecipient(r["phone"], tuple(r["params"])) for r in part),
            flow_id=str(self.flow_id),
            state_id=str(self.state_id),
            master_state=self.master_state or None,
        )
        campaign_id = self.hook.create_campaign(draft)
        self.log.info("Blip campaign %s created (%s) with %d recipients", name, campaign_id, len(part))
        return campaign_id

    @staticmethod
    def _write_part(
        layout: RunLayout,
        task_id: str,
        part: int,
        recipients: Sequence[dict[str, Any]],
        rejected: list[dict[str, Any]],
    ) -> ObjectStoragePath:
        # Written before the campaign is created: the rows exist whatever happens next.
        path = layout.results(task_id, part) / "campaign.jsonl"
        sent = (
            {"row": r["row"], "phone": r["phone"], "status": RecipientStatus.SENT.value} for r in recipients
        )
        runfiles.write_jsonl(path, [*sent, *rejected])
        return path


def _size(value: Any) -> int:
    """Read ``campaign_size``: a whole number of at least 1 (a rendered template may be text)."""
    try:
        size = int(value) if not isinstance(value, bool | float) else 0
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise BlipConfigError(f"campaign_size must be a whole number of at least 1, got {value!r}")
    return size


def _chunk_refs(chunks: Any) -> list[str]:
    items = chunks if isinstance(chunks, list | tuple) else [chunks]
    refs = []
    for item in items:
        if is_chunk_ref(item):
            refs.append(item["chunk"])
        elif isinstance(item, str) and item:
            refs.append(item)
        else:
            raise BlipConfigError(
                "chunks must be the output of BlipSplitAudienceOperator or chunk file URIs, "
                f"got {type(item).__name__}"
            )
    return refs


def _read(refs: Iterable[str], spec: TemplateSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (rows not to send, with their status) and (recipients with their parameters)."""
    rejected: list[dict[str, Any]] = []
    recipients: list[dict[str, Any]] = []
    for ref in refs:
        for line in runfiles.read_jsonl(runfiles.storage_path(ref)):
            if "status" in line:  # the split rejected it: invalid number, duplicate, missing value
                rejected.append({k: v for k, v in line.items() if k != "values"})
                continue
            try:
                content = render_content(spec, line.get("values") or {})
            except TemplateValueError as exc:
                status = RecipientStatus.INVALID_VALUES.value
                rejected.append(
                    {"row": line["row"], "phone": line["phone"], "status": status, "reason": str(exc)}
                )
                continue
            body = next(c for c in content["template"]["components"] if c["type"] == "body")
            params = [p["text"] for p in body["parameters"]]
            if not all(params):  # Blip's campaign refuses an empty parameter: the whole campaign
                reason = f"row {line['row']}: an empty body parameter"
                status = RecipientStatus.INVALID_VALUES.value
                rejected.append(
                    {"row": line["row"], "phone": line["phone"], "status": status, "reason": reason}
                )
                continue
            recipients.append({"row": line["row"], "phone": line["phone"], "params": params})
    return rejected, recipients
