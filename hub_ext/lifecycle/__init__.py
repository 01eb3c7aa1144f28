"""Notebooks' lifecycle (issue 25): when an idle or old notebook server is stopped, the warning before,
"Keep running", and the words of each. The runner's culler (``hub_ext.services.culler``) decides with
:mod:`.rules` and :mod:`.decide` and writes :mod:`.records`; the hub's pages read them."""
