"""retune's ops command: read rounds, trials, plans and champions, and act on a deployment (promote, pause,
resume, stop, retry, redrive, drop), against AWS (`--stack`) or the local stack (`--endpoints-file`).

Not deployed: the functions' layer never imports it. See docs/cli.md.
"""
