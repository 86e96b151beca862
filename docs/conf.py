"""Sphinx configuration: python -m sphinx -W -b html docs docs/_build/html"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "optax_survey"
author = "optax_survey developers"
copyright = "2025, optax_survey developers"
from optax_survey import __version__ as release  # noqa: E402

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "furo"
html_title = "optax_survey"
