"""Catalog packages as files (SPEC §14): the `.scaipkg` format (``scaipkg``), the safe reader
of untrusted zip archives it uses (``safe_zip``) and packing a FlowGraph into one
(``packing``). Pure libraries like the compiler: no database, no file system, no network.
"""
