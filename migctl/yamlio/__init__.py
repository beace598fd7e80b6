"""Generic YAML/JSON reading plumbing, with no HAMi concept in it.

- :mod:`migctl.yamlio.documents`: read a text file (``-`` for stdin) and its YAML documents with the line
  each starts on; problems are :class:`~migctl.errors.InputError` naming the file and line.
- :mod:`migctl.yamlio.block_yaml`: a line parser for exactly the block YAML kubectl prints (a test holds
  it to libyaml), used by the snapshot reader for speed.

The YAML loader with JSON-Pointer positions for config files is :mod:`migctl.config.yaml_source`.
"""
