"""Records: the part of `dataclasses` nspod uses, without its cost.

`import dataclasses` loads `inspect` (and with it ast, dis, tokenize): ~5 ms
of every command's start and ~1 MiB of the node holder, which keeps them for
its life; and each class it makes compiles four or five generated methods
(~0.3 ms a class, ~40 classes). A record's methods are the same few
functions for every class, reading the class's field list.

    @record(frozen=True)
    class Port:
        port: int
        protocol: str = "TCP"
        labels: dict = field(default_factory=dict, repr=False)

gives __init__ (positional or by name, defaults, factories), __repr__,
__eq__, and for a frozen record __hash__ and no attribute assignment;
`fields(obj)` and `replace(obj, **changes)` work as in dataclasses.
"""
_MISSING = object()


class FrozenInstanceError(AttributeError):
    """An attribute of a frozen record was assigned or deleted."""


class Field:
    __slots__ = ("name", "default", "default_factory", "repr")

    def __init__(self, default=_MISSING, default_factory=_MISSING, repr=True):
        self.name = None
        self.default = default
        self.default_factory = default_factory
        self.repr = repr

    def __repr__(self):
        return f"Field({self.name!r})"


def field(*, default=_MISSING, default_factory=_MISSING, repr=True):
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr)


def record(cls=None, *, frozen=False):
    """Make cls a record (with or without arguments, as @dataclass)."""
    def wrap(cls):
        return _make(cls, frozen)

    return wrap if cls is None else wrap(cls)


def fields(obj):
    """The record's fields, in order (a class or an instance)."""
    return obj.__record_fields__


def replace(obj, **changes):
    """A new record of obj's class: obj's values, with `changes`."""
    values = {f.name: getattr(obj, f.name) for f in obj.__record_fields__}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)


def _make(cls, frozen):
    found = []
    seen_default = None
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        if isinstance(value, Field):
            if f.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        if isinstance(f.default, (list, dict, set)):
            raise ValueError(f"{cls.__name__}.{name}: a mutable default; use default_factory")
        has_default = f.default is not _MISSING or f.default_factory is not _MISSING
        if seen_default and not has_default:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows {seen_default!r}, which has one")
        if has_default:
            seen_default = name
        found.append(f)
    cls.__record_fields__ = tuple(found)
    cls.__record_names__ = frozenset(f.name for f in found)
    cls.__init__ = _init
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq
    cls.__match_args__ = tuple(f.name for f in found)
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
        if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            cls.__hash__ = _hash
    elif "__hash__" not in cls.__dict__:
        cls.__hash__ = None  # (as dataclasses: equal by value and mutable, so not hashable)
    return cls


def _init(self, *args, **kwargs):
    fields_ = self.__record_fields__
    cls_name = type(self).__name__
    if len(args) > len(fields_):
        raise TypeError(f"{cls_name}() takes {len(fields_)} positional arguments but {len(args)} were given")
    set_ = object.__setattr__
    for i, f in enumerate(fields_):
        if i < len(args):
            if f.name in kwargs:
                raise TypeError(f"{cls_name}() got multiple values for argument {f.name!r}")
            value = args[i]
        elif f.name in kwargs:
            value = kwargs[f.name]
        elif f.default is not _MISSING:
            value = f.default
        elif f.default_factory is not _MISSING:
            value = f.default_factory()
        else:
            raise TypeError(f"{cls_name}() missing required argument: {f.name!r}")
        set_(self, f.name, value)
    for k in kwargs:
        if k not in self.__record_names__:
            raise TypeError(f"{cls_name}() got an unexpected keyword argument {k!r}")


def _values(self):
    return tuple(getattr(self, f.name) for f in self.__record_fields__)


def _repr(self):
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self, other):
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _hash(self):
    return hash(_values(self))


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")
