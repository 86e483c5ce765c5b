import os
import tempfile

# Compiled kernels are cached outside the tree so that test runs share them and never write into it.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "rightsizer-numba-cache"))
