"""Active Campaign and the scheduler in the emulator, over real HTTP."""

from __future__ import annotations

import copy
import datetime
import time

import pytest

from tests.emulator.conftest import FAST_DELAYS, BlipClient

AC = "postmaster@activecampaign.msging.net"
SCHEDULER = "postmaster@scheduler.msging.net"
FULL = "application/vnd.iris.activecampaign.full-campaign+json"
SCHEDULE = "application/vnd.iris.schedule+json"
GOOD, BROKEN, UNREGISTERED = "+5511987654321", "+5511955550004", "+5511911110000"


def full_campaign(name="order-update-1", recipients=(GOOD,), **campaign):
    return {
        "campaign": {
            "name": name,
            "campaignType": "Batch",
            "channelType": "WhatsApp",
            "flowId": "flow-1",
            "stateId": "block-1",
            **campaign,
        },
        "audiences": [{"recipient": r, "messageParams": {"1": "Ana", "2": "A-17"}} for r in recipients],
        "message": {
            "messageTemplate": "order_update",
            "messageTemplateLanguage": "pt_BR",
            "messageParams": ["1", "2"],
            "channelType": "WhatsApp",
        },
    }


def create(blip, resource, type=FULL):
    return blip.command("set", "/campaign/full", to=AC, type=type, resource=resource)


@pytest.fixture
def campaigns(blip_emulator_factory):
    emu = blip_emulator_factory(
        delivery_delays=FAST_DELAYS,
        campaign_dispatch_delay=0.1,
        failing_numbers={BROKEN: (42, "Destination not found")},
        unregistered_numbers={UNREGISTERED},
    )
    return BlipClient(emu)


def wait_until(read, done, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_create_then_dispatch_does_lookup_send_and_redirect(campaigns):
    resource = full_campaign(recipients=(GOOD, BROKEN, UNREGISTERED), masterState="sub@msging.net")
    answer = create(campaigns, resource)
    assert answer["status"] == "success"
    campaign_id = answer["resource"]["id"]
    first = campaigns.command("get", f"/campaigns/{campaign_id}", to=AC)["resource"]
    assert first["status"] == "Processing"
    assert first["name"] == "order-update-1"

    def report():
        return campaigns.command("get", f"/campaigns/{campaign_id}/reports", to=AC)["resource"]["items"]

    items = wait_until(report, lambda items: len(items) == 3 and items[0]["status"] == "consumed")
    by_number = {item["recipient"]: item for item in items}
    assert by_number[GOOD]["status"] == "consumed"
    assert by_number[BROKEN]["status"] == "failed"
    assert by_number[BROKEN]["reasonCode"] == 42
    assert by_number[UNREGISTERED]["reasonCode"] == 67
    final = campaigns.command("get", f"/campaigns/{campaign_id}", to=AC)["resource"]
    assert final["status"] == "Sent"
    # The redirect: master-state, then the flow's block, on the account Blip looked up.
    assert campaigns.emulator.contexts("5511987654321@wa.gw.msging.net") == {
        "master-state": "sub@msging.net",
        "stateid@flow-1": "block-1",
    }
    assert campaigns.emulator.contexts("5511955550004@wa.gw.msging.net") == {}, "a failed send: no redirect"
    roster = campaigns.command("get", "/contacts/5511987654321%40wa.gw.msging.net")["resource"]
    assert roster["phoneNumber"] == GOOD, "the lookup wrote the contact, as a bot's own lookup does"
    # Failures come as notifications of the message, as for any send.
    failed = campaigns.notifications(by_number[UNREGISTERED]["messageId"])
    assert [n["event"] for n in failed] == ["failed"]
    sent = campaigns.emulator.messages()
    assert sorted(m["to"] for m in sent) == [
        "+5511911110000",
        "5511955550004@wa.gw.msging.net",
        "5511987654321@wa.gw.msging.net",
    ]
    summary = campaigns.command("get", f"/campaigns/{campaign_id}/summaries", to=AC)["resource"]["items"]
    assert summary == [
        {
            "campaignId": campaign_id,
            "audienceSize": 3,
            "processed": 3,
            "sent": 1,
            "received": 1,
            "read": 1,
            "failed": 2,
        }
    ]


def test_campaigns_are_listed_and_paged(campaigns):
    for n in range(3):
        create(campaigns, full_campaign(name=f"c-{n}"))
    page = campaigns.command("get", "/campaigns?$skip=1&$take=1", to=AC)["resource"]
    assert page["total"] == 3
    assert [c["name"] for c in page["items"]] == ["c-1"], "newest first"


def test_a_name_is_taken_once(campaigns):
    create(campaigns, full_campaign(name="same"))
    again = create(campaigns, full_campaign(name="same"))
    assert again["status"] == "failure"
    assert "already exists" in again["reason"]["description"]
    assert len(campaigns.emulator.campaigns()) == 1


def test_cancel_before_dispatch_sends_nothing(blip_emulator_factory):
    blip = BlipClient(blip_emulator_factory(campaign_dispatch_delay=30))
    campaign_id = create(blip, full_campaign())["resource"]["id"]
    assert blip.command("delete", f"/campaigns/{campaign_id}", to=AC)["status"] == "success"
    assert blip.command("get", f"/campaigns/{campaign_id}", to=AC)["resource"]["status"] == "Canceled"
    assert blip.emulator.messages() == []


def test_cancel_after_dispatch_is_refused(campaigns):
    campaign_id = create(campaigns, full_campaign())["resource"]["id"]
    wait_until(
        lambda: campaigns.command("get", f"/campaigns/{campaign_id}", to=AC)["resource"]["status"],
        lambda status: status == "Sent",
    )
    refused = campaigns.command("delete", f"/campaigns/{campaign_id}", to=AC)
    assert refused["status"] == "failure"
    assert refused["reason"]["code"] == 66


def _broken(change):
    resource = full_campaign()
    change(resource)
    return resource


@pytest.mark.parametrize(
    ("resource", "words"),
    [
        pytest.param(
            _broken(lambda r: r["audiences"][0].update(recipient="5511987654321")), "E.164", id="no-plus"
        ),
        pytest.param(
            _broken(lambda r: r["message"].update(messageParams=["2", "1"])), "ordered", id="keys-order"
        ),
        pytest.param(
            _broken(lambda r: r["audiences"][0]["messageParams"].pop("2")),
            "exactly the keys",
            id="missing-param",
        ),
        pytest.param(_broken(lambda r: r["campaign"].update(campaignType="Bulk")), "campaignType", id="type"),
        pytest.param(_broken(lambda r: r["campaign"].pop("flowId")), "flowId", id="no-flow"),
        pytest.param(_broken(lambda r: r["message"].update(channelType="SMS")), "channelType", id="channel"),
        pytest.param(
            _broken(lambda r: r.update(audience=r.pop("audiences")[0])), "audiences", id="batch-one"
        ),
        pytest.param(
            _broken(lambda r: r["audiences"].append(copy.deepcopy(r["audiences"][0]))),
            "twice",
            id="duplicate",
        ),
        pytest.param(
            _broken(lambda r: r["audiences"][0]["messageParams"].update({"1": ""})), "non-empty", id="empty"
        ),
    ],
)
def test_the_create_payload_is_validated_strictly(campaigns, resource, words):
    answer = create(campaigns, resource)
    assert answer["status"] == "failure"
    assert answer["reason"]["code"] == 64
    assert words in answer["reason"]["description"]
    assert campaigns.emulator.campaigns() == []


def test_individual_takes_one_audience_object(campaigns):
    resource = full_campaign(campaignType="Individual")
    resource["audience"] = resource.pop("audiences")[0]
    assert create(campaigns, resource)["status"] == "success"


def test_the_type_and_the_postmaster_are_checked(campaigns):
    assert create(campaigns, full_campaign(), type="application/json")["status"] == "failure"
    wrong = campaigns.command("get", "/campaigns", to="postmaster@msging.net")
    assert wrong["reason"]["code"] == 62


def test_an_audience_over_the_limit_is_refused(blip_emulator_factory):
    blip = BlipClient(blip_emulator_factory(campaign_max_audience=2))
    answer = create(blip, full_campaign(recipients=(GOOD, BROKEN, UNREGISTERED)))
    assert "at most 2 recipients" in answer["reason"]["description"]


# -- the scheduler ---------------------------------------------------------------------------


def schedule(blip, message_id, when, to="5511987654321@wa.gw.msging.net"):
    message = {"id": message_id, "to": to, "type": "text/plain", "content": "bom dia"}
    resource = {"message": message, "when": when, "name": "morning"}
    return blip.command("set", "/schedules", to=SCHEDULER, type=SCHEDULE, resource=resource)


def utc_in(seconds):
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_scheduled_message_is_sent_at_when(blip):
    assert schedule(blip, "s-1", utc_in(0.2))["status"] == "success"
    read = blip.command("get", "/schedules/s-1", to=SCHEDULER)["resource"]
    assert read["status"] == "scheduled"
    assert read["name"] == "morning"
    assert "#scheduler.when" in read["message"]["metadata"]
    assert blip.emulator.messages() == []
    done = wait_until(
        lambda: blip.command("get", "/schedules/s-1", to=SCHEDULER)["resource"]["status"],
        lambda status: status == "executed",
    )
    assert done == "executed"
    assert [m["id"] for m in blip.emulator.messages()] == ["s-1"]
    events = blip.wait_for("s-1", lambda items: "received" in BlipClient.events(items))
    assert "received" in BlipClient.events(events)


def test_a_canceled_schedule_is_never_sent(blip):
    schedule(blip, "s-2", utc_in(0.1))
    assert blip.command("delete", "/schedules/s-2", to=SCHEDULER)["status"] == "success"
    time.sleep(0.2)  # past its `when`: the next command would send it, were it still scheduled
    assert blip.command("get", "/schedules/s-2", to=SCHEDULER)["resource"]["status"] == "canceled"
    assert blip.emulator.messages() == []


def test_schedule_validation_and_missing(blip):
    assert schedule(blip, "s-3", "2030-01-01T09:00:00-03:00")["reason"]["code"] == 64, "not UTC"
    assert schedule(blip, "s-3", "tomorrow")["reason"]["code"] == 64
    assert blip.command("get", "/schedules/nope", to=SCHEDULER)["reason"]["code"] == 67


def test_the_same_id_twice_is_stored_twice(blip):
    # Blip documents no deduplication: a client must look before it schedules again.
    schedule(blip, "s-4", utc_in(0.05))
    schedule(blip, "s-4", utc_in(0.05))
    wait_until(
        lambda: blip.command("get", "/schedules/s-4", to=SCHEDULER)["resource"]["status"],
        lambda status: status == "executed",
    )
    assert [m["id"] for m in blip.emulator.messages()] == ["s-4", "s-4"]
