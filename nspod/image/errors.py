"""The errors of the image code, in nspod's one family (nspod.errors)."""
from ..errors import BadInput, NotFound, NspodError


class InvalidImageName(BadInput):
    """A reference that does not parse (Kubernetes' waiting reason InvalidImageName)."""

    reason = "InvalidImageName"


class PullError(NspodError):
    """A pull failed: the network, the registry, a digest mismatch, a size
    bound (Kubernetes' waiting reason ErrImagePull)."""

    reason = "ErrImagePull"


class UnsupportedMediaType(PullError):
    """A manifest or layer type nspod cannot use (e.g. zstd without a decompressor)."""


class UnsafeLayer(PullError):
    """A layer archive that would write outside the root it is unpacked into."""


class ImageNotFound(NotFound):
    """No such image in the local store."""


class ImageInUse(NspodError):
    """rmi of an image a pod uses (without -f)."""
