"""The ``navfusion dist`` subcommand and its benchmarks (the library code is :mod:`navfusion.parallel`,
:mod:`navfusion.build` and :mod:`navfusion.device`)."""
