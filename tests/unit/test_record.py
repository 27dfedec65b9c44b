"""nspod.record: the dataclasses subset nspod uses."""
import pytest

from nspod.record import FrozenInstanceError, field, fields, record, replace


@record(frozen=True)
class Port:
    port: int
    protocol: str = "TCP"
    labels: dict = field(default_factory=dict, repr=False)


@record
class Plan:
    root: str
    extra: tuple = field(default=())


def test_init_by_position_name_default_and_factory():
    p = Port(80)
    assert (p.port, p.protocol, p.labels) == (80, "TCP", {})
    assert Port(80).labels is not p.labels  # a new one each time
    assert Port(53, protocol="UDP") == Port(port=53, protocol="UDP")
    assert Plan("/r").extra == ()


def test_init_errors_name_the_argument():
    with pytest.raises(TypeError, match="missing required argument: 'port'"):
        Port()
    with pytest.raises(TypeError, match="unexpected keyword argument 'prot'"):
        Port(80, prot="UDP")
    with pytest.raises(TypeError, match="multiple values for argument 'port'"):
        Port(80, port=81)
    with pytest.raises(TypeError, match="takes 3 positional"):
        Port(1, "TCP", {}, 4)


def test_frozen_eq_hash_repr():
    p = Port(80)
    with pytest.raises(FrozenInstanceError):
        p.port = 81
    with pytest.raises(AttributeError):  # (as dataclasses' FrozenInstanceError is)
        del p.protocol
    assert p != Port(81) and p != (80, "TCP", {})
    assert hash(Port(80, labels=None)) == hash(Port(80, labels=None))
    assert repr(p) == "Port(port=80, protocol='TCP')"  # labels: repr=False


def test_mutable_record_assigns_and_is_not_hashable():
    plan = Plan("/r")
    plan.extra = ("x",)
    assert plan == Plan("/r", ("x",))
    with pytest.raises(TypeError):
        hash(plan)


def test_fields_and_replace():
    assert [f.name for f in fields(Port)] == ["port", "protocol", "labels"]
    p = replace(Port(80), protocol="UDP")
    assert (p.port, p.protocol) == (80, "UDP")
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(p, nope=1)


def test_class_definition_errors():
    with pytest.raises(ValueError, match="mutable default"):
        @record
        class Bad:
            items: list = []
    with pytest.raises(TypeError, match="without a default follows"):
        @record
        class Order:
            a: int = 1
            b: int
