"""evidpack: seal digital evidence into a signed, verifiable BagIt bundle."""

__version__ = "0.1.0"
FORMAT = "evidpack/1"
TOOL_NAME = "evidpack"
