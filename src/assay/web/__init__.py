"""assay's web UI (the optional extra `assay[ui]`): the asset graph, partition
health, runs, backfills, the plan, checks and automation in a browser.

`assay ui` serves it; `assay daemon --ui` serves it beside the daemon. Nothing here
is imported by the rest of assay: `assay --help` and every other command start as
fast without it.
"""
