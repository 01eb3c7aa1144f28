"""Package specs of group images: each manager's grammar, errors naming the spec as given."""

import pytest

from hub_ext.bodies import BodyError, parse_body
from hub_ext.images.group import ImageCreate, NameTaken, with_added, with_changed, without
from hub_ext.images.specs import SpecError, check_apt, check_conda, check_pip, validate_packages
from hub_ext.policy import Catalog, GroupPolicy, Image


@pytest.mark.parametrize("spec", ["numpy", "numpy>=1.2", "numpy>=1.2,<3", "requests[socks]==2.31",
                                  "cowsay==6.1", 'pywin32; sys_platform == "win32"'])
def test_pip_accepts_pep508(spec):
    assert check_pip(spec) == spec


@pytest.mark.parametrize("spec", ["numpy>>1", "--index-url=http://x", "-e .", "num py", "x @ https://e.org/x.whl"])
def test_pip_refuses_naming_the_spec(spec):
    with pytest.raises(SpecError) as exc:
        check_pip(spec)
    assert repr(spec) in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("spec", ["curl", "libx11-6", "g++", "curl=7.88.1-10+deb12u5", "tzdata=2024a-0+deb12u1"])
def test_apt_accepts(spec):
    assert check_apt(spec) == spec


@pytest.mark.parametrize("spec", ["a", "Curl", "curl=", "curl>=7", "-curl", "curl;rm -rf /", "curl=v1"])
def test_apt_refuses(spec):
    with pytest.raises(SpecError, match="not a valid apt package"):
        check_apt(spec)


@pytest.mark.parametrize("spec", ["numpy", "numpy=1.26", "numpy==1.26.4", "numpy>=1.26", "numpy!=1.0",
                                  "conda-forge::numpy", "conda-forge::numpy>=1.26", "python=3.11.*"])
def test_conda_accepts(spec):
    assert check_conda(spec) == spec


@pytest.mark.parametrize("spec", ["numpy>>1", "::numpy", "numpy 1.26", "NumPy", "numpy=", "a::b::c"])
def test_conda_refuses(spec):
    with pytest.raises(SpecError, match="not a valid conda package"):
        check_conda(spec)


def test_packages_errors_name_manager_and_index():
    with pytest.raises(BodyError) as exc:
        validate_packages({"pip": ["numpy", "numpy>>1"], "apt": ["curl", "X"]}, embedded=False)
    errors = exc.value.errors
    assert errors["packages.pip.1"].startswith("Pip packages (1): 'numpy>>1' is not a valid pip requirement")
    assert "'X'" in errors["packages.apt.1"]
    assert set(errors) == {"packages.pip.1", "packages.apt.1"}


def test_packages_refuse_unknown_manager_duplicates_and_spaces():
    for data, field in [({"npm": ["x"]}, "packages.npm"), ({"pip": ["x", "x"]}, "packages.pip"),
                        ({"pip": [" numpy"]}, "packages.pip.0"), ({"pip": "numpy"}, "packages.pip")]:
        with pytest.raises(BodyError) as exc:
            validate_packages(data, embedded=False)
        assert field in exc.value.errors, data


def test_embedded_mode_refuses_apt_and_conda_clearly():
    assert validate_packages({"pip": ["cowsay==6.1"]}, embedded=True).pip == ["cowsay==6.1"]
    with pytest.raises(BodyError) as exc:
        validate_packages({"apt": ["curl"], "conda": ["numpy"]}, embedded=True)
    assert "embedded mode" in exc.value.errors["packages.apt"]
    assert "embedded mode" in exc.value.errors["packages.conda"]
    assert validate_packages({"apt": ["curl"], "conda": ["numpy"]}, embedded=False).apt == ["curl"]


CATALOG = Catalog(images=[Image(name="base", image="quay.io/jupyter/base-notebook:latest")])


def create(**fields):
    return parse_body(ImageCreate, {"name": "team", **fields})


def test_add_keeps_pip_packages_as_the_local_environment():
    policy, image = with_added(GroupPolicy(), CATALOG, create(packages={"pip": ["cowsay==6.1"]}), embedded=True)
    assert image.local.packages == ["cowsay==6.1"]
    assert [im.name for im in policy.allowed_images(CATALOG)] == ["base", "team"]
    assert [im.name for im in GroupPolicy().allowed_images(CATALOG)] == ["base"]


def test_add_refuses_name_clashes_and_kubernetes_without_image():
    with pytest.raises(NameTaken):
        with_added(GroupPolicy(), CATALOG, create(name="base"), embedded=True)
    policy, _ = with_added(GroupPolicy(), CATALOG, create(), embedded=True)
    with pytest.raises(NameTaken):
        with_added(policy, CATALOG, create(), embedded=True)
    with pytest.raises(BodyError) as exc:
        with_added(GroupPolicy(), CATALOG, create(), embedded=False)
    assert "image" in exc.value.errors
    with pytest.raises(BodyError) as exc:
        parse_body(ImageCreate, {"name": "Bad Name", "image": "not an image", "colour": "red"})
    assert {"name", "image", "colour"} <= set(exc.value.errors)


def test_change_and_remove():
    policy, _ = with_added(GroupPolicy(), CATALOG, create(image="quay.io/a/b:1"), embedded=False)
    from hub_ext.images.group import ImagePatch
    policy, image = with_changed(policy, "team", parse_body(ImagePatch, {"description": "d"}), embedded=False)
    assert (image.description, image.image) == ("d", "quay.io/a/b:1")
    assert without(policy, "team").group_images == []
    with pytest.raises(KeyError):
        without(policy, "other")
