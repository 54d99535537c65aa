"""BlipHook's Active Campaign and scheduler methods, over real HTTP against the emulator."""

from __future__ import annotations

import datetime
import time

import pytest

from airflow_provider_blip.exceptions import BlipCommandError, BlipConfigError
from airflow_provider_blip.hooks.blip import BlipHook
from airflow_provider_blip.utils.campaigns import (
    Campaign,
    CampaignDraft,
    CampaignRecipient,
    CampaignReportRow,
    CampaignStatus,
    CampaignSummary,
    Schedule,
    ScheduleStatus,
    full_campaign,
)
from tests.hooks.test_blip import RecordingSleep

GOOD, BROKEN = "+5511987654321", "+5511955550004"


def draft(name="job-1-part-0000", phones=(GOOD, BROKEN), **kwargs):
    recipients = tuple(CampaignRecipient(p, ("Ana", f"A-{i}")) for i, p in enumerate(phones))
    fields = {"template": "order_update", "language": "pt_BR", "flow_id": "flow", "state_id": "block"}
    return CampaignDraft(name=name, recipients=recipients, **{**fields, **kwargs})


@pytest.fixture
def hook(blip_conn):
    blip_conn.configure(
        campaign_dispatch_delay=0.05,
        failing_numbers={BROKEN: (42, "Destination not found")},
        delivery_delays={"accepted": 0.0, "dispatched": 0.01, "received": 0.02, "consumed": 0.03},
    )
    return BlipHook()


def until(read, done, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def test_create_read_and_report(hook, blip_conn):
    campaign_id = hook.create_campaign(draft(master_state="sub@msging.net"))
    read = hook.get_campaign(campaign_id)
    assert read == Campaign(campaign_id, "job-1-part-0000", CampaignStatus.PROCESSING, "Processing")
    assert hook.find_campaign("job-1-part-0000") == read
    assert hook.find_campaign("another") is None
    sent = until(lambda: hook.get_campaign(campaign_id), lambda c: c.status.final)
    assert sent.status is CampaignStatus.SENT
    rows = until(
        lambda: {r.phone: r for r in hook.iter_campaign_report(campaign_id)},
        lambda rows: rows.get(GOOD) is not None and rows[GOOD].status == "consumed",
    )
    assert rows[GOOD].message_id
    assert (rows[BROKEN].status, rows[BROKEN].reason_code, rows[BROKEN].reason) == (
        "failed",
        42,
        "Destination not found",
    )
    summary = hook.get_campaign_summary(campaign_id)
    assert (summary.audience_size, summary.sent, summary.failed) == (2, 1, 1)


def test_the_report_is_paged(hook):
    phones = [f"+55119{i:08d}" for i in range(7)]
    campaign_id = hook.create_campaign(draft(phones=phones))
    until(lambda: hook.get_campaign(campaign_id), lambda c: c.status.final)
    assert sorted(r.phone for r in hook.iter_campaign_report(campaign_id, page_size=3)) == phones


def test_find_pages_every_campaign(hook):
    for n in range(5):
        hook.create_campaign(draft(name=f"c-{n}"))
    found = [c.name for c in hook.iter_campaigns(page_size=2)]
    assert sorted(found) == [f"c-{n}" for n in range(5)]
    assert hook.find_campaign("c-0") is not None


def test_cancel_and_missing(hook, blip_conn):
    blip_conn.configure(campaign_dispatch_delay=60)
    campaign_id = hook.create_campaign(draft())
    hook.cancel_campaign(campaign_id)
    assert hook.get_campaign(campaign_id).status is CampaignStatus.CANCELED
    assert hook.get_campaign("no-such-campaign") is None


def test_a_bad_draft_costs_no_request(hook, blip_conn):
    with pytest.raises(BlipConfigError, match="E.164"):
        hook.create_campaign(draft(phones=("5511987654321",)))
    with pytest.raises(BlipConfigError, match="twice"):
        hook.create_campaign(draft(phones=(GOOD, GOOD)))
    assert blip_conn.records("commands") == []


def test_a_name_taken_is_refused_by_blip(hook):
    hook.create_campaign(draft())
    with pytest.raises(BlipCommandError, match="already exists"):
        hook.create_campaign(draft())


def test_an_ambiguous_create_is_looked_up_not_sent_again(hook, blip_conn):
    # Blip stores the campaign and the answer is lost; the retry asks by name first.
    blip_conn.configure(drop_after_rate=1.0, fault_channels={"commands"})
    hook._sleep = RecordingSleep(on_sleep=lambda n: blip_conn.configure(drop_after_rate=0.0))
    campaign_id = hook.create_campaign(draft())
    stored = blip_conn.campaigns()
    assert [c["id"] for c in stored] == [campaign_id]
    creates = [r for r in blip_conn.records("commands") if r.envelope["uri"] == "/campaign/full"]
    assert len(creates) == 1


def test_payload_shape():
    batch = full_campaign(draft(master_state="sub@msging.net"))
    assert batch["campaign"]["campaignType"] == "Batch"
    assert batch["campaign"]["masterState"] == "sub@msging.net"
    assert batch["audiences"][1] == {"recipient": BROKEN, "messageParams": {"1": "Ana", "2": "A-1"}}
    assert batch["message"]["messageParams"] == ["1", "2"]
    one = full_campaign(draft(phones=(GOOD,)))
    assert one["campaign"]["campaignType"] == "Individual"
    assert one["audience"]["recipient"] == GOOD
    assert "audiences" not in one


def test_reads_tolerate_missing_and_unknown_fields():
    assert Campaign.parse({"id": "x", "status": "ARCHIVED", "new": 1}).status is CampaignStatus.UNKNOWN
    assert Campaign.parse(None) == Campaign("", "", CampaignStatus.UNKNOWN, "")
    assert CampaignStatus.parse("sent").final
    assert CampaignSummary.parse({"items": []}, "x") == CampaignSummary("x", 0, 0, 0, 0, 0, 0)
    assert CampaignSummary.parse({"sent": "3"}, "x").sent == 3, "a bare object is read too"
    row = CampaignReportRow.parse({"recipient": "5531988887777@wa.gw.msging.net", "reasonCode": "x"})
    assert (row.phone, row.status, row.reason_code) == ("+5531988887777", "", None)
    assert Schedule.parse({"status": "later"}).status is ScheduleStatus.UNKNOWN


# -- the scheduler ---------------------------------------------------------------------------


def test_schedule_is_idempotent_and_sent_at_when(hook, blip_conn):
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=0.3)
    to = "5511987654321@wa.gw.msging.net"
    first = hook.schedule_message(to, "text/plain", "bom dia", when=when, message_id="sched-1", name="m")
    again = hook.schedule_message(to, "text/plain", "bom dia", when=when, message_id="sched-1", name="m")
    assert first.status is ScheduleStatus.SCHEDULED
    assert again == first
    sets = [r for r in blip_conn.records("commands") if r.envelope["method"] == "set"]
    assert len(sets) == 1, "the retry found it: no second schedule"
    done = until(lambda: hook.get_schedule("sched-1"), lambda s: s.status is not ScheduleStatus.SCHEDULED)
    assert done.status is ScheduleStatus.EXECUTED
    assert [m["id"] for m in blip_conn.messages()] == ["sched-1"]


def test_cancel_a_schedule(hook, blip_conn):
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    hook.schedule_message("5511987654321@wa.gw.msging.net", "text/plain", "x", when=when, message_id="s-2")
    hook.cancel_schedule("s-2")
    assert hook.get_schedule("s-2").status is ScheduleStatus.CANCELED
    hook.cancel_schedule("never-made")  # missing is fine by default
    assert hook.get_schedule("never-made") is None


def test_a_naive_time_is_refused(hook, blip_conn):
    with pytest.raises(BlipConfigError, match="timezone-aware"):
        hook.schedule_message(
            "x@wa.gw.msging.net", "text/plain", "x", when=datetime.datetime(2030, 1, 1), message_id="n"
        )
