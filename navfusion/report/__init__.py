"""navfusion.report: the reproduction pipeline (recipe → build → train → evaluate) and its report
(tables, verdicts on the paper's findings, figures, ``index.html``); above eval, viz and train."""
