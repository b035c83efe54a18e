"""Every wait on a Bedrock resource ends: on its final status, on a failed one, or past its `bedrock.wait_hours`
limit with the resource, its last status and where to look. Here the poll itself; each resource's wait is
tested beside it (test_bedrock_knowledge_base.py, test_bedrock_customization.py, test_bedrock_opensearch.py)."""

import pytest
from botocore.exceptions import ClientError

from nova_lab.bedrock import polling
from nova_lab.core.params import WaitHours


def test_every_kind_of_wait_has_a_limit_and_a_console_place():
    assert set(WaitHours.model_fields) == set(polling.CONSOLES)
    assert WaitHours().customization_job >= 10  # Nova jobs can run 10 h and more


def test_the_poll_counts_the_delays_it_slept_so_a_replay_stops_where_the_run_would():
    fetched, slept = [], []
    limit = polling.Limit("knowledge base unit-kb", "knowledge_base", 0.005)  # 18 s
    states = polling.poll(lambda: fetched.append(1) or {"status": "CREATING"}, 5.0, 30.0, slept.append, limit)
    with pytest.raises(polling.WaitTimedOut) as stop:
        list(states)
    assert (len(fetched), slept) == (3, [5.0, 7.5])  # 11.25 s more would pass the limit: the stop, not a sleep
    assert str(stop.value) == (
        "knowledge base unit-kb is still CREATING after 0.005 h (bedrock.wait_hours.knowledge_base): look in the "
        "Amazon Bedrock console, Knowledge Bases; it goes on in AWS: run the step again to wait for the same one "
        "(it is reused), or raise the limit")


def test_expired_credentials_stop_a_limited_wait_with_the_way_out():
    def fetch():
        raise ClientError({"Error": {"Code": "RequestExpired", "Message": "Request has expired."}}, "GetKnowledgeBase")

    limit = polling.Limit("knowledge base unit-kb", "knowledge_base", 1)
    with pytest.raises(polling.CredentialsExpired, match=r"expired \(RequestExpired\) while waiting for knowledge base "
                                                         r"unit-kb, which goes on in AWS: refresh credentials and run again"):
        next(polling.poll(fetch, 5.0, 30.0, lambda s: None, limit))
