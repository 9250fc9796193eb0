"""Analysis of stored runs: spectrum fits, in-gap peaks, the run report and its figures.

Layers inside (imports point down): ``figures`` → ``results`` → ``report`` → ``fits``
(package) → ``peaks`` → ``spectrum``, ``uncertainty``. The package imports only
``andreev.physics``, ``andreev.storage``, ``andreev.errors`` (and ``andreev.config``);
it never prints or exits: it returns values and raises ``andreev.errors`` exceptions,
and ``andreev.cli.analysis`` reports them.
"""
