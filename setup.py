"""Build script: the Rust core through setuptools-rust and the Cython modules in ext/.

Everything ends up in the one `cipherpost` package: `core/python` becomes `cipherpost._core`
and each `ext/NAME.pyx` becomes `cipherpost._NAME`.
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools_rust import Binding, RustExtension

ROOT = Path(__file__).parent

# CIPHERPOST_CYTHON_DEBUG=1 compiles the Cython modules with their debug-only checks.
CYTHON_DEBUG = os.environ.get("CIPHERPOST_CYTHON_DEBUG") == "1"

cython_modules = [
    Extension(f"cipherpost._{pyx.stem}", [str(pyx.relative_to(ROOT))], extra_compile_args=["-O3"])
    for pyx in sorted((ROOT / "ext").glob("*.pyx"))
]

setup(
    rust_extensions=[
        RustExtension(
            "cipherpost._core",
            path="core/python/Cargo.toml",
            binding=Binding.PyO3,
            py_limited_api=True,
            debug=False,
        )
    ],
    ext_modules=cythonize(
        cython_modules,
        compiler_directives={"language_level": 3, "boundscheck": CYTHON_DEBUG, "wraparound": False},
        compile_time_env={"CIPHERPOST_DEBUG": CYTHON_DEBUG},
        include_path=["ext"],
    ),
)
