"""Exosite One Platform dialect: the JSON-RPC API of the pyonep client (``/onep:v1/rpc/process``)."""
