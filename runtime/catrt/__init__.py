"""catrt: a standalone NumPy integer reference runtime for int8 .tflite models.

Bit-exact with TFLite's reference kernels (OpResolverType.BUILTIN_REF) of the builds named in
`catrt.profiles`. Depends on NumPy only.
"""
from . import fixed_point, profiles
from .errors import CatrtError
from .interpreter import Interpreter, TensorDetails
from .profiles import PROFILES, Profile, get_profile, profile_for
from .reader import Model, read_model

__all__ = ["Interpreter", "TensorDetails", "CatrtError", "Profile", "PROFILES", "get_profile",
           "profile_for", "profiles", "fixed_point", "read_model", "Model"]
__version__ = "0.1.0"
