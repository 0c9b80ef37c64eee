"""Wire formats below the operations: JSON values, URLs, multipart bodies, argument checks.

``to_wire``/``from_wire`` convert models to and from their JSON shapes (``wire`` declares a
field's wire name); ``BaseURL`` and the query helpers build request targets; the multipart
encoder and decoder frame file uploads in chunks; the ``positive``/``non_empty`` validators
refuse bad arguments before any byte exists.
"""

from __future__ import annotations

from . import _checks, _codec, _multipart, _url
from ._checks import *
from ._codec import *
from ._multipart import *
from ._url import *

__all__: list[str] = []
__all__ += _codec.__all__
__all__ += _url.__all__
__all__ += _multipart.__all__
__all__ += _checks.__all__
