"""The example's node artifacts: a launch template and Karpenter node classes carry the cache's user data."""

from __future__ import annotations

import base64

import pytest
import yaml
from test_consumer_program import AL2023_USER_DATA, BOTTLEROCKET_SETTINGS, run_example

from node_classes import ec2_node_class

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def test_the_launch_template_carries_the_al2023_user_data_unchanged() -> None:
    mocks, outputs = run_example()
    template = mocks.resources[LAUNCH_TEMPLATE].inputs
    assert base64.b64decode(template["userData"]).decode() == AL2023_USER_DATA
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert outputs["node_launch_template_id"] == "nodes-al2023-id"


def test_karpenter_node_classes_carry_each_familys_user_data() -> None:
    _, outputs = run_example()
    classes = {
        document["metadata"]["name"]: document
        for document in yaml.safe_load_all(outputs["karpenter_node_classes"])
    }
    al2023 = classes["pull-through-cache-al2023"]
    bottlerocket = classes["pull-through-cache-bottlerocket"]
    assert al2023["apiVersion"] == "karpenter.k8s.aws/v1" and al2023["kind"] == "EC2NodeClass"
    assert al2023["spec"]["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert al2023["spec"]["userData"] == AL2023_USER_DATA
    assert bottlerocket["spec"]["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]
    assert bottlerocket["spec"]["userData"] == BOTTLEROCKET_SETTINGS
    assert al2023["spec"]["role"] == "eks-nodes", "the node role that has the node pull policy"
    assert al2023["spec"]["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "eks"}}]


def test_an_unknown_ami_family_is_refused() -> None:
    with pytest.raises(ValueError, match="AL2"):
        ec2_node_class(name="x", family="AL2", role="r", cluster="c", user_data="")
