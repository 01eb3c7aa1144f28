"""Launch plans: membership, allowed instance types/images, GPU variants, server names."""

import pytest

from hub_ext.policy import parse_catalog, parse_policy
from spawner.plan import LaunchRefused, group_for_server, resolve, server_name_for

CATALOG = parse_catalog({
    "instance_types": [
        {"name": "small", "cpu": "500m", "memory": "1Gi"},
        {"name": "big", "cpu": 4, "memory": "8Gi"},
        {"name": "gpu", "cpu": 4, "memory": "16Gi", "gpu": 1},
    ],
    "images": [
        {"name": "base", "image": "base:cpu"},
        {"name": "torch", "image": "torch:cpu", "gpu_image": "torch:cuda", "quick_launch": "pytorch"},
        {"name": "cuda-only", "gpu_image": "cuda:only"},
    ],
})
POLICIES = {
    "research": parse_policy({"instance_types": ["small", "gpu"], "default_instance_type": "small"}),
    "teach": parse_policy({"instance_types": ["small"], "images": ["base"]}),
}


def plan(server, **options):
    return resolve(server_name=server, options=options, group_names=list(POLICIES),
                   policies=POLICIES, catalog=CATALOG)


def test_default_instance_type_and_first_image():
    p = plan("research")
    assert (p.group, p.instance_type.name, p.image.name) == ("research", "small", "base")


def test_gpu_instance_type_gets_gpu_image_variant():
    p = plan("research", group="research", instance_type="gpu", image="torch")
    assert p.container_image == "torch:cuda"
    assert plan("research", instance_type="small", image="torch").container_image == "torch:cpu"


def test_cpu_only_image_refused_for_gpu_type_and_vice_versa():
    with pytest.raises(LaunchRefused, match="no GPU variant"):
        plan("research", instance_type="gpu", image="base")
    with pytest.raises(LaunchRefused, match="no CPU variant"):
        plan("research", instance_type="small", image="cuda-only")


def test_instance_type_not_allowed_in_group():
    with pytest.raises(LaunchRefused, match="'big' is not allowed in group 'research'") as e:
        plan("research", instance_type="big")
    assert e.value.status == 403


def test_image_not_allowed_in_group():
    with pytest.raises(LaunchRefused, match="Image 'torch' is not allowed in group 'teach'"):
        plan("teach", image="torch")


def test_not_a_member():
    with pytest.raises(LaunchRefused, match="not a member of group 'elsewhere'") as e:
        plan("elsewhere", group="elsewhere")
    assert e.value.status == 403


def test_server_must_be_named_after_its_group():
    with pytest.raises(LaunchRefused, match="must be named 'teach'"):
        plan("research", group="teach")
    with pytest.raises(LaunchRefused, match="named after their group"):
        plan("", group="teach")


def test_server_names_are_valid_and_distinct():
    for group in ["ML_Team", "ml-team", "2024 cohort", "Überwachung", "x" * 80]:
        name = server_name_for(group)
        assert name[0].isalpha() and len(name) <= 30
        assert all(c.islower() or c.isdigit() or c == "-" for c in name)
    assert server_name_for("ML_Team") != server_name_for("ml-team")
    assert server_name_for("ml-team") == "ml-team"
    assert group_for_server(server_name_for("ML_Team"), ["ml-team", "ML_Team"]) == "ML_Team"


@pytest.mark.parametrize("options, message", [
    ({"instance_type": 123, "image": None}, "Instance type: must be text"),
    ({"group": "research", "extra": "x" * 100_000}, "extra: unknown field"),
    ({"group": ["research"]}, "Group: must be text"),
    ({"image": "i" * 256}, "Image: use at most 255 characters"),
    ({"datasets": "imgs"}, "Datasets: must be a list"),
    ({"datasets": ["Bad Name"]}, "Datasets: 'Bad Name' is not a dataset name, or name@v<version>"),
    ({"datasets": ["imgs", "imgs@v2"]}, "Datasets: dataset imgs is picked twice"),
])
def test_malformed_launch_options_are_refused_with_the_field(options, message):
    with pytest.raises(LaunchRefused) as exc:
        plan("research", **options)
    assert (exc.value.status, exc.value.message) == (400, message)


def test_options_must_be_an_object_and_blank_values_mean_default():
    from spawner.plan import launch_options

    with pytest.raises(LaunchRefused, match="expected a JSON object"):
        launch_options(["research"])
    assert launch_options({"group": " research ", "image": None, "instance_type": ""}) == {"group": "research"}


def test_dataset_picks_ride_with_the_plan():
    from spawner.plan import split_picks

    assert plan("research", datasets=["imgs@v2", "texts"]).datasets == ("imgs@v2", "texts")
    assert plan("research", datasets=[]).datasets == ()
    assert split_picks(" imgs@v2, ,texts ") == ["imgs@v2", "texts"]  # the spawn form's hidden field
