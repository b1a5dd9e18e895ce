"""The operator's terminal UI (`scaiflow-box tui`): a Textual client of the REST API.

It authenticates with a short-lived service token minted from the data directory
(`tui.token`), talks to the appliance only through `tui.client.AdminClient`, and shows one
screen per concern: overview (with the directory sync and webhook activity), users and groups
(filters, roles, sync now), service tokens, audit, tenants (ScaiGrid credentials, master key),
flows and their deployments (`tui.screens`).
"""
